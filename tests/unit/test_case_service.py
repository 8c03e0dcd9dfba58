"""The rules of recording a disposition, reading a call and disabling an agent, apart from
HTTP: each refusal is a `Refused` with the status the API answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from pbx_engine.agents.access import AgentAccessService, CannotDisableYourself, NoSuchAgent
from pbx_engine.agents.states import AgentState
from pbx_engine.cases.dispositions import CaseUpdate, Disposition, DispositionInput
from pbx_engine.cases.service import (
    CaseService,
    DispositionRefused,
    DispositionService,
    NoCallOfYours,
    NoSuchCase,
    UnknownCallbackStatus,
)
from pbx_engine.refusals import Refused
from pbx_engine.storage.agent_access import Disabled
from pbx_engine.storage.models import AgentRow, Attempt

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ANNA = AgentRow(1, "anna", "Anna", None, "agent", None)
BOB = AgentRow(2, "bob", "Bob", None, "agent", None)
SUE = AgentRow(3, "sue", "Sue", None, "supervisor", None)
PROMISE = DispositionInput(Disposition.PROMISE_TO_PAY, Decimal("50.00"), date(2026, 12, 1))


def _attempt(agent_id: int | None = ANNA.id, case_id: int | None = 7) -> Attempt:
    return Attempt(
        id=11,
        channel_id="chan-1",
        direction="outbound",
        case_id=case_id,
        phone_number_id=None,
        campaign_id=None,
        agent_id=agent_id,
        dialled="+48221234567",
        caller_id=None,
        created_at=NOW,
        originated_at=None,
        ringing_at=None,
        answered_at=None,
        amd_status=None,
        amd_cause=None,
        amd_decided_at=None,
        bridged_at=None,
        ended_at=None,
        hangup_cause=None,
        hangup_cause_text=None,
        outcome="answered",
    )


@dataclass
class FakeAttempts:
    attempt: Attempt | None
    handed_over_to: set[int] = field(default_factory=set)

    async def get_attempt(self, channel_id: str) -> Attempt | None:
        return self.attempt if self.attempt and self.attempt.channel_id == channel_id else None

    async def handed_over(self, channel_id: str, agent_id: int) -> bool:
        return agent_id in self.handed_over_to


@dataclass
class FakeCases:
    recorded: list[tuple] = field(default_factory=list)
    payments: dict[int, int] = field(default_factory=dict)

    async def case_dossier(self, case_id: int):
        return SimpleNamespace(timezone="Europe/Warsaw", as_json=lambda: {"id": case_id})

    async def record_disposition(
        self, channel_id: str, agent_id: int, given: DispositionInput, update: CaseUpdate
    ) -> int:
        self.recorded.append((channel_id, agent_id, given.code, update.status))
        return len(self.recorded)

    async def record_payment(self, case_id, amount, paid_on, reference) -> int | None:
        return 99 if case_id == 7 else None


class FakeAgents:
    def __init__(self, states: dict[str, AgentState] | None = None) -> None:
        self.states = states or {}
        self.logged_out: list[str] = []

    def login_of(self, agent_id: int) -> str | None:
        return {ANNA.id: "anna"}.get(agent_id)

    def status(self, login: str):
        state = self.states.get(login)
        return SimpleNamespace(state=state) if state else None

    async def logout(self, login: str) -> None:
        self.logged_out.append(login)


class FakeNotices:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def disposition_saved(self, login: str, channel_id: str, saved: dict) -> None:
        self.sent.append((login, channel_id, saved))


def _dispositions(attempts: FakeAttempts, cases: FakeCases | None = None):
    storage = SimpleNamespace(attempts=attempts, cases=cases or FakeCases())
    notices = FakeNotices()
    service = DispositionService(storage, FakeAgents(), notices, clock=lambda: NOW)
    return service, storage, notices


async def test_given_his_call_when_an_agent_records_a_promise_then_it_is_saved_and_he_is_told():
    service, storage, notices = _dispositions(FakeAttempts(_attempt()))
    saved = await service.record(ANNA, "chan-1", PROMISE)
    assert saved.case_status == "promised"
    assert storage.cases.recorded == [("chan-1", ANNA.id, Disposition.PROMISE_TO_PAY, "promised")]
    assert notices.sent == [("anna", "chan-1", saved.as_json())]


@pytest.mark.parametrize(
    ("attempt", "who"),
    [
        (None, ANNA),  # no such call
        (_attempt(case_id=None), ANNA),  # a call with no case
        (_attempt(), BOB),  # another agent's call
    ],
)
async def test_given_a_call_not_his_when_disposing_then_404_and_nothing_written(attempt, who):
    service, storage, notices = _dispositions(FakeAttempts(attempt))
    with pytest.raises(NoCallOfYours) as refused:
        await service.record(who, "chan-1", PROMISE)
    assert refused.value.status == 404
    assert storage.cases.recorded == [] and notices.sent == []


async def test_given_a_call_handed_over_to_him_or_a_supervisor_then_the_disposition_is_taken():
    service, storage, notices = _dispositions(FakeAttempts(_attempt(), handed_over_to={BOB.id}))
    await service.record(BOB, "chan-1", PROMISE)
    await service.record(SUE, "chan-1", PROMISE)
    # the call's own agent hears of both
    assert [sent[0] for sent in notices.sent] == ["anna", "anna"]


async def test_given_a_promise_in_the_past_when_disposing_then_422():
    service, storage, _ = _dispositions(FakeAttempts(_attempt()))
    past = DispositionInput(Disposition.PROMISE_TO_PAY, Decimal("50.00"), date(2026, 11, 1))
    with pytest.raises(DispositionRefused) as refused:
        await service.record(ANNA, "chan-1", past)
    assert refused.value.status == 422 and storage.cases.recorded == []


async def test_given_another_agents_call_when_reading_it_then_404_but_a_supervisor_sees_it():
    cases = CaseService(SimpleNamespace(attempts=FakeAttempts(_attempt()), cases=FakeCases()))
    with pytest.raises(NoCallOfYours):
        await cases.attempt(BOB, "chan-1")
    assert (await cases.attempt(SUE, "chan-1")).id == 11
    assert (await cases.current_call("chan-1"))["case"] == {"id": 7}


@pytest.mark.parametrize("case_id", [0, 8, 2**63])
async def test_given_no_such_case_when_recording_a_payment_then_404(case_id):
    cases = CaseService(SimpleNamespace(attempts=FakeAttempts(None), cases=FakeCases()))
    with pytest.raises(NoSuchCase):
        await cases.record_payment(case_id, Decimal("1"), date(2026, 1, 1), None)
    assert await cases.record_payment(7, Decimal("1"), date(2026, 1, 1), None) == 99


async def test_given_an_unknown_status_when_listing_callbacks_then_422():
    cases = CaseService(SimpleNamespace(callbacks=None))
    with pytest.raises(UnknownCallbackStatus) as refused:
        await cases.callbacks("someday")
    assert refused.value.status == 422


class FakeAccess:
    def __init__(self) -> None:
        self.disabled: set[str] = set()

    async def disable(self, login: str, now: datetime) -> Disabled | None:
        if login in self.disabled or login not in ("anna", "bob"):
            return None
        self.disabled.add(login)
        return Disabled(agent_id=1, sessions_closed=2, links_revoked=1)

    async def enable(self, login: str) -> bool:
        if login not in self.disabled:
            return False
        self.disabled.discard(login)
        return True


async def test_given_a_logged_in_agent_when_disabled_then_he_is_logged_out_once():
    agents = FakeAgents({"anna": AgentState.READY, "bob": AgentState.LOGGED_OUT})
    access = AgentAccessService(SimpleNamespace(agent_access=FakeAccess()), agents, lambda: NOW)
    assert (await access.disable(SUE, "anna")).sessions_closed == 2
    await access.disable(SUE, "bob")
    assert agents.logged_out == ["anna"]
    with pytest.raises(NoSuchAgent):
        await access.disable(SUE, "anna")  # disabled already
    await access.enable("anna")
    with pytest.raises(NoSuchAgent):
        await access.enable("anna")


async def test_given_an_admin_when_disabling_himself_then_409():
    access = AgentAccessService(SimpleNamespace(agent_access=FakeAccess()), FakeAgents())
    with pytest.raises(CannotDisableYourself) as refused:
        await access.disable(ANNA, "anna")
    assert isinstance(refused.value, Refused) and refused.value.status == 409
