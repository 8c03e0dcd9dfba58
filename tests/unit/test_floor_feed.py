"""The floor feed, with a fake agent service and storage: what it publishes when agents change
state and are put through to debtors."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.notify import NotificationHub
from pbx_engine.notify.feed import FloorFeed

BRIDGED = datetime(2026, 12, 2, 9, 0, 0, tzinfo=UTC)


class FakeAgents:
    def __init__(self) -> None:
        self.listeners = []
        self.statuses: dict[str, AgentStatus] = {}

    def on_state_change(self, listener) -> None:
        self.listeners.append(listener)

    def status(self, login: str) -> AgentStatus | None:
        return self.statuses.get(login)

    def all(self) -> list[AgentStatus]:
        return list(self.statuses.values())

    def agent_id(self, login: str) -> int:
        return 7

    def change(self, login: str, state: AgentState, call_id: str | None = None) -> None:
        status = self.statuses.setdefault(login, AgentStatus(login))
        before = status.state
        status.state, status.since, status.call_id = state, BRIDGED, call_id
        for listener in self.listeners:
            listener(status, before)


@dataclass
class FakeAttempt:
    amd_decided_at: datetime
    bridged_at: datetime


@dataclass(frozen=True)
class FakeCallback:
    id: int

    def as_json(self) -> dict:
        return {"id": self.id}


class FakeStorage:
    """Stands for the agents, cases, attempts and callbacks stores at once."""

    def __init__(self) -> None:
        self.agents = self.cases = self.attempts = self.callbacks = self

    async def get_agent(self, login: str):
        return None  # names are tested on the real engine

    async def screen_pop(self, channel_id: str) -> dict:
        return {
            "channel_id": channel_id,
            "number": "+12025550100",
            "campaign": "early",
            "amd_decided_at": (BRIDGED - timedelta(milliseconds=20)).isoformat(),
            "case": {"reference": "R-1", "debtor_name": "Maria", "amount_owed": "10.00"},
        }

    async def get_attempt(self, channel_id: str) -> FakeAttempt:
        return FakeAttempt(BRIDGED - timedelta(milliseconds=18), BRIDGED)

    async def callbacks_of(self, agent_id: int) -> list:
        return [FakeCallback(1)]


@dataclass
class FakeRunner:
    campaign: CampaignConfig


async def _drain(subscription, count: int) -> list:
    return [await asyncio.wait_for(subscription.get(), 1) for _ in range(count)]


async def test_given_an_agent_put_through_when_the_feed_hears_it_then_state_pop_and_dead_air():
    hub, agents = NotificationHub(), FakeAgents()
    script = "Hello {debtor_name}, this is {agent}."
    runners = {"early": FakeRunner(CampaignConfig(name="early", script=script))}
    feed = FloorFeed(hub, FakeStorage(), agents, lambda: runners, dead_air_after=0)
    anna = hub.subscribe("anna", supervisor=False)
    piotr = hub.subscribe("piotr", supervisor=False)
    agents.change("anna", AgentState.ON_CALL, "chan-1")
    state, pop, with_case, with_dead_air = await _drain(anna, 4)
    assert (state.kind, state.data["state"], state.data["call_id"]) == (
        "agent",
        "on_call",
        "chan-1",
    )
    assert pop.kind == "screen_pop" and pop.data["case"]["reference"] == "R-1"
    assert pop.data["bridged_at"] == BRIDGED.isoformat()
    assert pop.data["script"] == "Hello Maria, this is anna."
    assert (with_case.data["case"], with_case.data["dead_air_ms"]) == ("R-1", 20.0)
    assert with_dead_air.data["dead_air_ms"] == 18.0  # the stored verdict and bridge win
    assert piotr.pending() == 0

    agents.change("anna", AgentState.WRAP_UP, "chan-1")
    ended, wrap = await _drain(anna, 2)
    assert (ended.kind, ended.data) == ("call_ended", {"channel_id": "chan-1"})
    assert wrap.data["state"] == "wrap_up" and wrap.data["number"] is None
    await feed.close()
    assert await anna.get() is None  # closing the feed ends the subscriptions


async def test_given_a_disposition_when_saved_then_the_agent_gets_it_and_his_callbacks():
    hub, agents = NotificationHub(), FakeAgents()
    feed = FloorFeed(hub, FakeStorage(), agents, dict)
    anna = hub.subscribe("anna", supervisor=False)
    feed.disposition_saved("anna", "chan-1", {"code": "callback"})
    saved, callbacks = await _drain(anna, 2)
    assert saved.data == {"channel_id": "chan-1", "code": "callback"}
    assert callbacks.data == {"callbacks": [{"id": 1}]}
    await feed.close()


class FailingRecordings(FakeStorage):
    """Also the recordings store: one call with a failed recording in the last hour."""

    def __init__(self) -> None:
        super().__init__()
        self.recordings = self

    async def failed_calls_since(self, since: datetime) -> dict:
        return {None: 1}


async def test_given_a_recording_failed_before_the_pop_then_pop_and_desk_say_not_recording():
    hub, agents = NotificationHub(), FakeAgents()
    feed = FloorFeed(hub, FailingRecordings(), agents, dict, dead_air_after=0)
    anna = hub.subscribe("anna", supervisor=False)
    boss = hub.subscribe("boss", supervisor=True)
    shown = {"state": "not_recording", "reason": "Asterisk cannot write the recording file"}
    feed.recording_changed("chan-1", shown)  # before he is even on the call: kept for the pop
    agents.change("anna", AgentState.ON_CALL, "chan-1")
    _state, pop, with_case, _dead_air = await _drain(anna, 4)
    assert pop.kind == "screen_pop" and pop.data["recording"] == shown
    assert with_case.data["recording"] == "not_recording"  # the wallboard's agent row

    feed.recording_changed("chan-1", shown)  # failed again mid-call: told at once
    told, row = await _drain(anna, 2)
    assert (told.kind, told.data) == ("recording", {"channel_id": "chan-1", **shown})
    assert row.kind == "agent" and row.data["recording"] == "not_recording"

    notice = await asyncio.wait_for(boss.get(), 1)
    while notice.kind != "recording_failures":  # supervisors see the agents' notices too
        notice = await asyncio.wait_for(boss.get(), 1)
    assert notice.data == {"period_minutes": 60, "calls": 1, "by_campaign": {"(none)": 1}}

    agents.change("anna", AgentState.WRAP_UP, "chan-1")
    await _drain(anna, 2)
    assert feed._recording == {}  # forgotten with the call
    await feed.close()
