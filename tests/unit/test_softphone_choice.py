"""The enrolment decision for an agent's softphone, on plain values: every combination of what
is asked and what the engine knows, and the cases that matter spelled out."""

import re
from itertools import product

import pytest

from pbx_engine.agents.enrolment import (
    NewAgent,
    SoftphoneChoice,
    check_endpoint_free,
    choose_softphone,
)
from pbx_engine.agents.softphones import BadEndpointName
from pbx_engine.refusals import Refused

ASKED = [None, "", "anna", "p-1", "a;b"]  # agent.endpoint
KNOWN = [None, "anna", "p-1", "hand-1"]  # the account's endpoint, the agent row's


def _choose(
    endpoint=None, *, existing=False, softphone=True, disabled=False, account=None, current=None
):
    agent = NewAgent(
        "anna", "Anna", endpoint=endpoint, existing_endpoint=existing, softphone=softphone
    )
    return choose_softphone(
        agent, disabled=disabled, account_endpoint=account, current_endpoint=current
    )


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        # A new agent: an account of his own, named as he asked or as his login.
        ({}, SoftphoneChoice("anna", managed=True, new_account=True)),
        ({"endpoint": "p-1"}, SoftphoneChoice("p-1", managed=True, new_account=True)),
        # Asked again: his account stays, password and all.
        ({"account": "anna"}, SoftphoneChoice("anna", managed=True)),
        ({"endpoint": "p-1", "account": "p-1"}, SoftphoneChoice("p-1", managed=True)),
        # Another name than his account's: a new account for it.
        ({"endpoint": "p-1", "account": "anna"}, SoftphoneChoice("p-1", True, True)),
        # His account's endpoint, though his row names another: a new account for the row's.
        ({"account": "anna", "current": "p-1"}, SoftphoneChoice("p-1", True, True)),
        # A hand-written endpoint on his row and no account: kept, unmanaged.
        ({"current": "hand-1"}, SoftphoneChoice("hand-1")),
        # ... unless he names one: then a managed account for that one.
        ({"endpoint": "p-1", "current": "hand-1"}, SoftphoneChoice("p-1", True, True)),
        # An empty name is no name: his row's endpoint, managed from now on.
        ({"endpoint": "", "current": "hand-1"}, SoftphoneChoice("hand-1", True, True)),
        ({"endpoint": ""}, SoftphoneChoice("anna", managed=True, new_account=True)),
        # One from Asterisk's files: used as it is, whatever else he has.
        ({"endpoint": "agent-001", "existing": True}, SoftphoneChoice("agent-001")),
        ({"endpoint": "p-1", "existing": True, "account": "anna"}, SoftphoneChoice("p-1")),
        # No softphone at all.
        ({"softphone": False}, SoftphoneChoice(None)),
        ({"softphone": False, "account": "anna", "endpoint": "a;b"}, SoftphoneChoice(None)),
    ],
)
def test_given_what_is_asked_and_known_then_the_softphone_chosen(asked, expected):
    assert _choose(**asked) == expected


@pytest.mark.parametrize(
    ("asked", "problem"),
    [
        ({"disabled": True}, "disabled (enable him first)"),
        ({"disabled": True, "softphone": False}, "disabled (enable him first)"),
        ({"existing": True}, "name the existing endpoint to use"),
        ({"existing": True, "endpoint": "", "current": "p-1"}, "name the existing endpoint"),
    ],
)
def test_given_an_agent_who_cannot_be_enrolled_then_refused(asked, problem):
    with pytest.raises(Refused, match=re.escape(problem)):
        _choose(**asked)


@pytest.mark.parametrize(
    "asked",
    [
        {"endpoint": "a;b"},
        {"endpoint": "a;b", "existing": True},
        {"current": "a b", "account": "anna"},  # a bad name on his row, managed from now on
    ],
)
def test_given_a_bad_endpoint_name_then_refused_with_the_rule(asked):
    with pytest.raises(BadEndpointName):
        _choose(**asked)


@pytest.mark.parametrize(
    ("endpoint", "existing", "softphone", "disabled", "account", "current"),
    list(product(ASKED, [False, True], [False, True], [False, True], KNOWN, KNOWN)),
)
def test_given_any_combination_then_the_choice_keeps_the_rules(
    endpoint, existing, softphone, disabled, account, current
):
    asked = {"endpoint": endpoint, "existing": existing, "softphone": softphone}
    try:
        choice = _choose(**asked, disabled=disabled, account=account, current=current)
    except Refused:
        refused = True
    else:
        refused = False
    if disabled:
        assert refused  # never enrolled while disabled
        return
    if not softphone:
        assert choice == SoftphoneChoice(None)
        return
    if existing:
        # His own choice from Asterisk's files, never managed, never made up.
        assert refused == (endpoint not in ("anna", "p-1"))
        assert refused or choice == SoftphoneChoice(endpoint)
        return
    if endpoint == "a;b":
        assert refused
        return
    assert not refused
    if not choice.managed:
        # Only the endpoint already on his row, and only while he has no account.
        assert (choice.endpoint, choice.new_account) == (current, False)
        assert endpoint is None and account is None
        return
    assert choice.endpoint == (endpoint or current or "anna")
    # A new account (and password) exactly when his account is not for that endpoint.
    assert choice.new_account == (account != choice.endpoint)


@pytest.mark.parametrize(
    ("owner", "in_files", "problem"),
    [
        (None, False, None),
        ("anna", False, None),  # his own
        ("piotr", False, "endpoint p-1 is agent piotr's"),
        (None, True, "endpoint p-1 is in Asterisk's configuration files already"),
        ("anna", True, "endpoint p-1 is in Asterisk's configuration files already"),
        ("piotr", True, "endpoint p-1 is agent piotr's"),
    ],
)
def test_given_who_holds_an_endpoint_then_a_new_account_may_take_it_or_not(
    owner, in_files, problem
):
    if problem is None:
        check_endpoint_free("anna", "p-1", owner=owner, in_asterisk_files=in_files)
        return
    with pytest.raises(Refused, match=problem):
        check_endpoint_free("anna", "p-1", owner=owner, in_asterisk_files=in_files)
