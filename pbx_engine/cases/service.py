"""What an agent records about a call's case: its disposition (the case's next step follows
from it) and, for supervisors, payments reported by the creditor; and what an agent may read of
a call (its attempt, the case's dossier).

The rules live here, apart from HTTP: who may touch which call, in which time zone a promised
date is read. Refusals are `Refused` subclasses carrying their status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from pbx_engine.cases.dispositions import (
    Disposition,
    DispositionError,
    DispositionInput,
    next_action,
)
from pbx_engine.cases.ids import parse_case_id
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.messaging.consent import (
    REVOKE_ALL_FROM,
    Consent,
    ConsentEntry,
    Source,
    revocation_by_disposition,
    revoke_all_from,
)
from pbx_engine.refusals import Refused
from pbx_engine.roles import may_supervise

if TYPE_CHECKING:  # storage imports this package's decisions: only the types come back
    from pbx_engine.storage import Storage
    from pbx_engine.storage.callbacks import CallbackRow
    from pbx_engine.storage.models import AgentRow, Attempt

log = structlog.get_logger(__name__)


class NoCallOfYours(Refused):
    def __init__(self, message: str = "no call of yours with that id") -> None:
        super().__init__(message, 404)


class UnknownCallbackStatus(Refused):
    def __init__(self, status: str) -> None:
        super().__init__(f"unknown status {status!r}", 422)


CALLBACK_STATUSES = ("pending", "missed", "done", "cancelled")


class NoSuchCase(Refused):
    def __init__(self) -> None:
        super().__init__("no such case", 404)


class DispositionRefused(Refused):
    """The disposition misses what its code needs (a promise without an amount, say)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 422)


class LoginOf(Protocol):
    def login_of(self, agent_id: int) -> str | None: ...


class DispositionNotices(Protocol):
    def disposition_saved(self, login: str, channel_id: str, saved: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class SavedDisposition:
    id: int
    code: Disposition
    case_status: str
    next_call_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code.value,
            "case_status": self.case_status,
            "next_call_at": self.next_call_at.isoformat() if self.next_call_at else None,
        }


class DispositionService:
    """`record`: an agent's disposition of a call he had (or handed over), or any call for a
    supervisor; the case's next step is decided in the debtor's time zone, written, and the
    call's agent told."""

    def __init__(
        self,
        storage: Storage,
        agents: LoginOf,
        notices: DispositionNotices,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        refused_quiet_of: Callable[[int | None], timedelta | None] = lambda _: None,
        revoke_all_day: date | None = None,
    ) -> None:
        self._storage = storage
        self._agents = agents
        self._notices = notices
        self._clock = clock
        # A campaign's quiet time after a refusal (its compliance profile's), by campaign id.
        self._refused_quiet_of = refused_quiet_of
        # From when "stop calling me" covers texts too ([messages] revoke_all_from).
        self._revoke_all_day = revoke_all_day or REVOKE_ALL_FROM.date()

    async def record(
        self, agent: AgentRow, channel_id: str, given: DispositionInput
    ) -> SavedDisposition:
        attempt = await self._storage.attempts.get_attempt(channel_id)
        if (
            attempt is None
            or attempt.case_id is None
            or not await self._may_dispose(agent, attempt)
        ):
            raise NoCallOfYours()
        dossier = await self._storage.cases.case_dossier(attempt.case_id)
        zone = debtor_zones(dossier.timezone if dossier else None, attempt.dialled, "UTC")[0]
        try:
            update = next_action(given, self._clock(), zone)
        except DispositionError as error:
            raise DispositionRefused(str(error)) from None
        disposition_id = await self._storage.cases.record_disposition(
            channel_id, agent.id, given, update
        )
        now = self._clock()
        revocation = revocation_by_disposition(
            given.code.value,
            now,
            self._refused_quiet_of(attempt.campaign_id),
            revoke_all_from(self._revoke_all_day),
        )
        if revocation is not None:
            # The ledger, not the case: every campaign and the callback queue read it.
            entry = ConsentEntry(
                attempt.dialled, revocation.channels, Consent.REVOKED, Source.DISPOSITION, now,
                revocation.until, revocation.note,
            )  # fmt: skip
            await self._storage.consent.add_entry(
                entry, case_id=attempt.case_id, entered_by=agent.id
            )
            log.info("consent.revoked", channels=sorted(revocation.channels), source="disposition")
        saved = SavedDisposition(disposition_id, given.code, update.status, update.next_call_at)
        log.info(
            "call.disposition", agent=agent.login, channel_id=channel_id, code=given.code.value
        )
        owner = self._agents.login_of(attempt.agent_id) if attempt.agent_id else None
        self._notices.disposition_saved(owner or agent.login, channel_id, saved.as_json())
        return saved

    async def _may_dispose(self, agent: AgentRow, attempt: Attempt) -> bool:
        if may_supervise(agent.role) or attempt.agent_id == agent.id:
            return True
        return await self._storage.attempts.handed_over(attempt.channel_id, agent.id)


class CaseService:
    """Reading a call and its case as the asking agent may, and payments on a case."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    async def attempt(self, agent: AgentRow, channel_id: str) -> Attempt:
        """The call's attempt: an agent's own calls only, any for a supervisor (else 404)."""
        attempt = await self._storage.attempts.get_attempt(channel_id)
        if attempt is None or (not may_supervise(agent.role) and attempt.agent_id != agent.id):
            raise NoCallOfYours("no such call")
        return attempt

    async def current_call(self, channel_id: str) -> dict[str, Any] | None:
        """The call an agent is on, as his desk shows it (None if it is not on record)."""
        attempt = await self._storage.attempts.get_attempt(channel_id)
        if attempt is None:
            return None
        inbound = attempt.direction == "inbound"
        return {
            "channel_id": attempt.channel_id,
            "direction": attempt.direction,
            # the debtor's number: the one we dialled, or the one he calls from
            "number": attempt.caller_id if inbound else attempt.dialled,
            "case": await self.dossier_json(attempt.case_id),
        }

    async def dossier_json(self, case_id: int | None) -> dict[str, Any] | None:
        dossier = await self._storage.cases.case_dossier(case_id) if case_id else None
        return dossier.as_json() if dossier else None

    async def callbacks(self, status: str) -> list[CallbackRow]:
        """Callbacks still to make, missed, made or cancelled."""
        if status not in CALLBACK_STATUSES:
            raise UnknownCallbackStatus(status)
        return await self._storage.callbacks.list_callbacks(status)

    async def record_payment(
        self, case_id: int, amount: Decimal, paid_on: date, reference: str | None
    ) -> int:
        """The payment's id; NoSuchCase if the case is unknown."""
        if parse_case_id(case_id) is None:
            raise NoSuchCase()
        payment_id = await self._storage.cases.record_payment(case_id, amount, paid_on, reference)
        if payment_id is None:
            raise NoSuchCase()
        return payment_id
