"""The table that picks a flow for a channel entering the app unowned, by its first Stasis
argument: fed parsed events directly, no socket."""

import pytest

from pbx_engine.ari.events import StasisStart, parse_event
from pbx_engine.ari.router import StasisRouter, stasis_arg


def _event(kind: str, *args: str):
    return parse_event({"type": kind, "channel": {"id": "ch-1", "state": "Up"}, "args": list(args)})


def _router() -> tuple[StasisRouter, list[tuple[str, StasisStart]]]:
    taken: list[tuple[str, StasisStart]] = []
    router = StasisRouter(fallback=lambda start: taken.append(("fallback", start)))
    router.add("inbound", lambda start: taken.append(("inbound", start)))
    router.add("dialled", lambda start: taken.append(("dialled", start)))
    return router, taken


def test_given_a_known_first_argument_when_routed_then_its_handler_takes_the_channel():
    router, taken = _router()
    start = _event("StasisStart", "dialled", "7001")

    router.route(start)

    assert taken == [("dialled", start)]


@pytest.mark.parametrize("args", [(), ("agent-login", "agent-001"), ("",), ("Inbound",)])
def test_given_no_or_an_unknown_first_argument_when_routed_then_the_fallback_takes_it(args):
    router, taken = _router()
    start = _event("StasisStart", *args)

    router.route(start)

    assert taken == [("fallback", start)]


def test_given_an_unclaimed_event_that_is_no_stasis_start_when_routed_then_nobody_gets_it():
    router, taken = _router()

    router.route(_event("StasisEnd"))
    router.route(_event("ChannelDestroyed"))

    assert taken == []


def test_given_a_first_argument_with_a_handler_when_another_is_added_then_it_is_refused():
    router, _ = _router()

    with pytest.raises(ValueError, match="inbound"):
        router.add("inbound", lambda start: None)


def test_given_fewer_arguments_than_asked_when_read_then_the_missing_ones_are_empty():
    start = _event("StasisStart", "inbound", "+12025550100")

    assert [stasis_arg(start, i) for i in range(4)] == ["inbound", "+12025550100", "", ""]
