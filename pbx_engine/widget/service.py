"""Requests from the creditor's website widget: a debtor identified by his number on a case
(or by the signed case link in the page), his call back stored for the case's owner, and every
request, taken or refused, on record with the address it came from."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.storage.widget import WidgetRequest
from pbx_engine.widget.links import CaseLinkError, make_case_token, read_case_token
from pbx_engine.widget.rules import (
    WidgetCounts,
    WidgetDecision,
    WidgetLimits,
    callback_due,
    decide_call_now,
    decide_callback,
)

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class WidgetService:
    def __init__(
        self,
        storage: Storage,
        secret: bytes,
        region: str,
        *,
        public_url: str,
        sites: tuple[str, ...] = (),
        limits: WidgetLimits | None = None,
        link_days: int = 90,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._storage = storage
        self._secret = secret
        self._region = region
        self._public_url = public_url.rstrip("/")
        self.sites = sites  # the creditors' sites that may frame it
        self._limits = limits or WidgetLimits()
        self._link_life = timedelta(days=link_days)
        self._clock = clock
        # Counting and recording in one step: two requests at once cannot both pass a cap.
        self._lock = asyncio.Lock()

    async def link(self, case_id: int) -> tuple[str, datetime]:
        """The widget's address for a case's debtor (for the creditor's page), and its expiry
        (Refused 404 for no such case)."""
        if not await self._storage.widget.case_exists(case_id):
            raise Refused("no such case", 404)
        expires_at = self._clock().replace(microsecond=0) + self._link_life
        token = make_case_token(case_id, expires_at, self._secret)
        return f"{self._public_url}/widget/?case={token}", expires_at

    def case_of_link(self, token: str) -> int:
        """The case a page's signed link names (Refused 403 when it is none of ours)."""
        try:
            return read_case_token(token, self._secret, self._clock())
        except CaseLinkError as error:
            raise Refused(str(error), 403) from None

    async def ask_callback(
        self, number: str, due_at: datetime | None, link: str | None, address: str
    ) -> WidgetDecision:
        """Take a call back request, or say why not (Refused 422 for a number that is none,
        403 for a forged or expired link; those are on record too, and count against the
        address)."""
        try:
            e164 = to_e164(number, self._region)
        except BadNumber as error:
            await self._record_refusal(address, None, "bad_number")
            raise Refused(str(error), 422) from None
        try:
            case_id = self.case_of_link(link) if link else await self._case_by_number(e164)
        except Refused:
            await self._record_refusal(address, e164, "bad_link")
            raise
        async with self._lock:
            now = self._clock()
            on_case = case_id is not None and await self._storage.widget.number_on_case(
                case_id, e164
            )
            counts = WidgetCounts(*await self._storage.widget.counts(address, e164, now))
            decision = decide_callback(
                counts,
                self._limits,
                case_found=case_id is not None,
                number_on_case=on_case,
                due_at=due_at,
                now=now,
            )
            callback_id = None
            if decision.allowed:
                assert case_id is not None
                callback_id = await self._storage.callbacks.create_callback(
                    e164=e164,
                    due_at=callback_due(due_at, now),
                    source="widget",
                    case_id=case_id,
                    owner_agent_id=await self._storage.cases.case_owner_id(case_id),
                )
            await self._storage.widget.record(
                WidgetRequest(
                    now,
                    "callback",
                    e164,
                    case_id,
                    decision.allowed,
                    decision.reason,
                    address,
                    callback_id,
                )
            )
        log.info(
            "widget.callback_asked",
            case_id=case_id,
            allowed=decision.allowed,
            reason=decision.reason,
            callback=callback_id,
        )
        return decision

    async def ask_call(self, link: str | None, address: str) -> tuple[WidgetDecision, int | None]:
        """A call from the page now: may it be made, and whose case is it (by the page's signed
        link; None: an unidentified caller). Refused 403 for a forged or expired link."""
        try:
            case_id = self.case_of_link(link) if link else None
        except Refused:
            await self._record_refusal(address, None, "bad_link", kind="call_now")
            raise
        async with self._lock:
            now = self._clock()
            counts = WidgetCounts(*await self._storage.widget.counts(address, None, now))
            decision = decide_call_now(counts, self._limits)
            await self._storage.widget.record(
                WidgetRequest(
                    now, "call_now", None, case_id, decision.allowed, decision.reason, address
                )
            )
        log.info("widget.call_asked", case_id=case_id, allowed=decision.allowed)
        return decision, case_id

    async def _record_refusal(
        self, address: str, e164: str | None, reason: str, kind: str = "callback"
    ) -> None:
        request = WidgetRequest(self._clock(), kind, e164, None, False, reason, address)
        await self._storage.widget.record(request)
        event = "widget.call_asked" if kind == "call_now" else "widget.callback_asked"
        log.info(event, allowed=False, reason=reason)

    async def _case_by_number(self, e164: str) -> int | None:
        match = await self._storage.cases.find_case_by_number(e164)
        return match.case_id if match else None
