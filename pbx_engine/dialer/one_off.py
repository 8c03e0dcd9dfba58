"""A supervisor's one-off call (`POST /calls`, a test of a trunk or a number): presented with
one of the centre's own numbers only, on record as a supervisor's action, passed through the
outbound policy like every external dial."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pbx_engine.callerid.service import CallerIdService
from pbx_engine.dialer.service import CallRequest, Dialer, DialerClosed, PlacedCall
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.outbound.gate import DialAsk, OutboundGate
from pbx_engine.outbound.policy import Purpose
from pbx_engine.recordkeeper import NotRecording
from pbx_engine.refusals import Refused
from pbx_engine.storage.models import AgentRow

# (who, action, target): the supervisor's action, on record
RecordAction = Callable[[AgentRow, str, str], Awaitable[None]]


class NotOurCallerId(Refused):
    def __init__(self) -> None:
        super().__init__("caller_id: not a number of the caller-ID pools", 422)


class DialerNotAccepting(Refused):
    def __init__(self, message: str) -> None:
        super().__init__(message, 503)


class OneOffCalls:
    def __init__(
        self,
        dialer: Dialer,
        outbound: OutboundGate,
        callerid: CallerIdService,
        record_action: RecordAction,
        *,
        region: str,
        default_caller_id: str,
    ) -> None:
        self._dialer = dialer
        self._outbound = outbound
        self._callerid = callerid
        self._record_action = record_action
        self._region = region
        self._default_caller_id = default_caller_id

    async def place(
        self, by: AgentRow, number: str, case_id: int | None, caller_id: str | None
    ) -> PlacedCall:
        """NotOurCallerId (422), OutboundRefused (403, 429: on record), DialerNotAccepting
        (503) when the call cannot start."""
        if caller_id is not None:
            caller_id = self._presentable(caller_id)
            if caller_id is None:
                raise NotOurCallerId()
        await self._record_action(by, "test_call", number)
        await self._outbound.check(DialAsk(Purpose.TEST_CALL, number, agent_id=by.id))
        request = CallRequest(
            number=number, case_id=case_id, caller_id=caller_id, purpose=Purpose.TEST_CALL
        )
        try:
            return self._dialer.place_call(request)
        except (DialerClosed, NotRecording) as error:
            raise DialerNotAccepting(str(error)) from None

    def _presentable(self, caller_id: str) -> str | None:
        """The caller ID as +E.164 when the centre owns it (a pools' number or the configured
        default), else None: the engine must not present numbers that are not ours."""
        try:
            number = to_e164(caller_id, self._region)
        except BadNumber:
            return None
        ours = set(self._callerid.pools.by_number()) | {self._default_caller_id}
        return number if number in ours else None
