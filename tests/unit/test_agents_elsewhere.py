"""Other engines' agents as this engine's predictive pacing counts them, and whom a person no
agent here can take is handed to."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ari_apps.outbound_call import OutboundCall
from ari_apps.outcomes import Outcome
from pbx_engine.agents.states import AgentState
from pbx_engine.ari import AriUnavailable
from pbx_engine.ari.events import parse_event
from pbx_engine.dialer.elsewhere import AgentsElsewhere, longest_ready, states_elsewhere
from pbx_engine.dialer.pacer import LivePacing
from pbx_engine.dialer.service import (
    CallProgress,
    CallResult,
    PlacedCall,
    _judged_at,
    until_moved,
)
from pbx_engine.pacing import CallFate
from pbx_engine.pacing.policies import RatioPolicy
from pbx_engine.storage.agent_holders import AgentElsewhere

NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


def agent(login: str, state: str, seconds_ago: float, engine: str = "engine-b") -> AgentElsewhere:
    return AgentElsewhere(login, engine, engine, state, NOW - timedelta(seconds=seconds_ago))


FLOOR = [
    agent("olga", "ready", 30),
    agent("ivan", "ready", 90, engine="engine-c"),
    agent("mia", "on_call", 40),
    agent("tom", "wrap_up", 5),
    agent("zoe", "paused", 600),
    agent("rex", "reserved", 1),
]


def test_given_every_agent_of_the_campaign_then_each_is_counted_in_his_state_and_age():
    counted = states_elsewhere(FLOOR, None, NOW)
    assert counted == [
        (AgentState.READY, 30.0),
        (AgentState.READY, 90.0),
        (AgentState.ON_CALL, 40.0),
        (AgentState.WRAP_UP, 5.0),
        (AgentState.PAUSED, 600.0),
        (AgentState.RESERVED, 1.0),
    ]


def test_given_a_campaign_naming_its_agents_then_only_they_are_counted():
    assert states_elsewhere(FLOOR, {"olga", "tom", "nobody"}, NOW) == [
        (AgentState.READY, 30.0),
        (AgentState.WRAP_UP, 5.0),
    ]


def test_given_a_state_this_engine_does_not_know_or_a_clock_ahead_then_no_harm():
    odd = [agent("ana", "dancing", 1), agent("ben", "ready", -3)]
    assert states_elsewhere(odd, None, NOW) == [(AgentState.READY, 0.0)]


def test_given_ready_agents_on_two_engines_then_the_longest_ready_one_is_picked():
    picked = longest_ready(FLOOR)
    assert picked is not None and (picked.login, picked.engine) == ("ivan", "engine-c")
    assert longest_ready([a for a in FLOOR if a.state != "ready"]) is None
    # The same moment: by login, so the pick never depends on the order read.
    tie = [agent("b", "ready", 10), agent("a", "ready", 10)]
    assert longest_ready(tie).login == longest_ready(tie[::-1]).login == "a"


async def _both_apps() -> set[str]:
    return {"engine-a", "engine-b", "engine-c"}


class _Holders:
    def __init__(self, rows=None, error: Exception | None = None) -> None:
        self.rows, self.error = rows or [], error

    async def elsewhere(self, engine: str) -> list[AgentElsewhere]:
        assert engine == "engine-a"
        if self.error is not None:
            raise self.error
        return self.rows


async def test_given_a_person_handed_then_pacing_counts_the_agent_taken_until_the_next_read():
    holders = _Holders(FLOOR)
    elsewhere = AgentsElsewhere(holders, "engine-a", _both_apps)  # type: ignore[arg-type]
    assert await elsewhere.ready_now() is None  # nobody elsewhere at the last read: not asked
    await elsewhere.read()
    there = await elsewhere.ready_now()
    assert there is not None and there.login == "ivan"
    elsewhere.handed(there, NOW)
    ivan = next(a for a in elsewhere.agents if a.login == "ivan")
    assert (ivan.state, ivan.since) == ("reserved", NOW)
    assert longest_ready(elsewhere.agents).login == "olga"
    await elsewhere.read()  # what the database says wins again
    assert next(a for a in elsewhere.agents if a.login == "ivan").state == "ready"


@pytest.mark.parametrize("error", [OSError("unreachable"), RuntimeError("a bug")])
async def test_given_the_database_cannot_say_then_no_agent_elsewhere_is_counted(error):
    holders = _Holders(FLOOR)
    elsewhere = AgentsElsewhere(holders, "engine-a", _both_apps)  # type: ignore[arg-type]
    await elsewhere.read()
    assert len(elsewhere.agents) == len(FLOOR)
    holders.error = error
    assert await elsewhere.ready_now() is None
    assert elsewhere.agents == ()


async def test_given_an_engine_on_other_nodes_then_its_agents_are_not_counted():
    async def apps_here() -> set[str]:
        return {"engine-a", "engine-b"}  # engine-c drives other Asterisk nodes

    elsewhere = AgentsElsewhere(_Holders(FLOOR), "engine-a", apps_here)  # type: ignore[arg-type]
    await elsewhere.read()
    assert {a.engine for a in elsewhere.agents} == {"engine-b"}
    assert (await elsewhere.ready_now()).login == "olga"


async def test_given_the_pbx_cannot_say_which_apps_it_has_then_no_agent_elsewhere_is_counted():
    async def apps_here() -> set[str]:
        raise AriUnavailable("GET /applications: connection refused")

    elsewhere = AgentsElsewhere(_Holders(FLOOR), "engine-a", apps_here)  # type: ignore[arg-type]
    assert await elsewhere.read() == ()


class _NoAgentsHere:
    def on_call_handled(self, listener) -> None:
        pass

    def all(self) -> list:
        return []


def test_given_agents_only_on_another_engine_then_pacing_dials_for_the_campaigns_ready_ones():
    elsewhere = AgentsElsewhere(_Holders(), "engine-a", _both_apps)  # type: ignore[arg-type]
    shift = datetime.now(UTC) - NOW  # pacing counts ages on the wall clock
    elsewhere.agents = [replace(a, since=a.since + shift) for a in FLOOR]
    pacing = LivePacing(
        RatioPolicy(dial_level=1.0, max_lines=10),
        _NoAgentsHere(),  # type: ignore[arg-type]
        {"olga", "ivan", "mia", "zoe"},
        clock=lambda: 100.0,
        elsewhere=elsewhere,
    )
    floor = pacing.floor()
    assert (floor.ready, floor.paused) == (2, 1)
    assert floor.in_call == (pytest.approx(40.0, abs=1.0),)
    assert pacing.calls_to_place() == 2
    alone = LivePacing(
        RatioPolicy(dial_level=1.0, max_lines=10),
        _NoAgentsHere(),  # type: ignore[arg-type]
        None,
        clock=lambda: 100.0,
    )
    assert alone.calls_to_place() == 0


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("1796482800.250", datetime(2026, 12, 5, 15, 0, 0, 250000, tzinfo=UTC)),
        ("", None),
        ("soon", None),
        ("1e300", None),
    ],
)
def test_given_a_handed_persons_verdict_time_then_it_is_read_or_now(stamp, expected):
    before = datetime.now(UTC)
    judged = _judged_at(stamp)
    if expected is not None:
        assert judged == expected
    else:
        assert before <= judged <= datetime.now(UTC)


class _Learns:
    name = "learns"

    def __init__(self) -> None:
        self.observed: list = []

    def observe(self, observation) -> None:
        self.observed.append(observation)

    def calls_to_place(self, floor) -> int:
        return 0


@pytest.mark.parametrize("abandoned", [True, False])
def test_given_a_person_handed_to_another_engine_then_pacing_learns_his_fate_from_the_record(
    abandoned,
):
    policy = _Learns()
    pacing = LivePacing(policy, _NoAgentsHere(), None, clock=lambda: 100.0)  # type: ignore[arg-type]
    progress = CallProgress(placed_at=90.0, answered_at=94.0, verdict=Outcome.HUMAN)
    progress.verdict_at = progress.handed_over_at = 96.0
    progress.handed_to = "engine-b"
    pacing.track(PlacedCall("out-1", progress, task=None))  # type: ignore[arg-type]
    assert pacing.calls_to_place() == 0
    assert policy.observed == []  # not at the hand-over: he may yet be abandoned there
    assert pacing.floor().waiting == ()  # nor is he waiting for an agent of this engine
    result = CallResult("out-1", "+12025550100", Outcome.HUMAN, "HUMAN", "", None, "handed")
    pacing.settle("out-1", result)  # this engine's part ended
    assert policy.observed == [] and pacing.handed_pending() == ["out-1"]
    pacing.handed_settled("out-1", abandoned)
    [observed] = policy.observed
    assert (observed.fate, observed.abandoned) == (CallFate.HUMAN, abandoned)
    assert observed.ring_seconds == 4.0 and observed.amd_seconds == 2.0
    assert pacing.handed_pending() == []
    pacing.handed_settled("out-1", not abandoned)  # told twice: learnt once
    assert len(policy.observed) == 1


class _Events:
    def __init__(self, *events) -> None:
        self._events = list(events)

    async def get(self):
        if not self._events:
            await asyncio.Event().wait()  # nothing more is ever heard
        return self._events.pop(0)


def _judged_call() -> OutboundCall:
    call = OutboundCall("out-1")
    for event in (
        parse_event({"type": "ChannelStateChange", "channel": {"id": "out-1", "state": "Up"}}),
        parse_event(
            {"type": "StasisStart", "channel": {"id": "out-1"}, "args": ["amd", "HUMAN", "x"]}
        ),
    ):
        call.handle(event, NOW)
    return call


def _event(kind: str, **fields):
    return parse_event({"type": kind, "channel": {"id": "out-1", "state": "Up"}, **fields})


async def test_given_the_move_asked_when_the_channel_leaves_this_app_then_the_call_is_handed():
    heard = _Events(_event("ChannelStateChange"), _event("StasisEnd"))
    finish = await until_moved(_judged_call(), "engine-b", heard)
    assert finish.handed_to == "engine-b"


async def test_given_the_move_asked_when_he_hangs_up_first_then_this_engine_writes_the_end():
    finish = await until_moved(_judged_call(), "engine-b", _Events(_event("ChannelDestroyed")))
    assert (finish.handed_to, finish.outcome) == (None, Outcome.HUMAN)


async def test_given_the_move_asked_when_nothing_is_heard_then_it_is_taken_for_moved():
    finish = await until_moved(_judged_call(), "engine-b", _Events(), wait=0.05)
    assert finish.handed_to == "engine-b"
