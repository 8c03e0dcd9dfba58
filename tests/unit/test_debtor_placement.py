"""Which node a predictive debtor is dialled from (several Asterisk nodes)."""

from __future__ import annotations

from pbx_engine.dialer.placement import node_for_debtor


def test_calls_go_where_agents_have_fewest_calls_out_for_them():
    assert node_for_debtor({"a": 4, "b": 2}, {"a": 4, "b": 1}, ["a", "b"]) == "b"
    assert node_for_debtor({"a": 4, "b": 2}, {"a": 3, "b": 2}, ["a", "b"]) == "a"


def test_ties_go_to_the_first_node():
    assert node_for_debtor({"a": 2, "b": 2}, {}, ["a", "b"]) == "a"
    assert node_for_debtor({"a": 2, "b": 2}, {}, ["b", "a"]) == "b"


def test_a_node_without_agents_or_down_gets_no_predictive_call():
    assert node_for_debtor({"a": 0, "b": 1}, {"b": 9}, ["a", "b"]) == "b"
    assert node_for_debtor({"a": 5, "b": 1}, {"b": 9}, ["b"]) == "b"
    assert node_for_debtor({"a": 5}, {}, ["b"]) is None


def test_with_no_agent_on_any_node_room_decides():
    assert node_for_debtor({}, {}, ["a", "b"]) is None


def test_a_floor_split_three_to_one_is_dialled_three_to_one():
    staffed, out = {"a": 3, "b": 1}, {"a": 0, "b": 0}
    for _ in range(40):
        node = node_for_debtor(staffed, out, ["a", "b"])
        assert node is not None
        out[node] += 1
    assert out == {"a": 30, "b": 10}
