"""Looking a number up before it is dialled or texted: once per `max_age`, the answer kept and
acted on (`storage.lookups`). A provider that cannot answer changes nothing: the number is
dialled or texted as if none were set, and the failure is logged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.config import EngineConfig
from pbx_engine.lookups.provider import LineCheck, LineType, LookupFailed, NumberLookupProvider
from pbx_engine.lookups.twilio import TwilioLookup
from pbx_engine.storage import Storage

log = structlog.get_logger(__name__)


class NumberLookups:
    def __init__(
        self, provider: NumberLookupProvider, storage: Storage, *, max_age: timedelta
    ) -> None:
        self._provider = provider
        self._storage = storage
        self._max_age = max_age

    async def before_contact(self, e164: str, now: datetime | None = None) -> LineCheck | None:
        """What is known of `e164`, asking the provider when nothing recent is kept; None when
        the provider could not say."""
        now = now or datetime.now(UTC)
        kept = await self._storage.lookups.recent(e164, now - self._max_age)
        if kept is not None:
            return kept
        try:
            check = await self._provider.check(e164)
        except LookupFailed as error:
            log.warning("lookup.failed", provider=self._provider.name, error=str(error))
            return None
        await self._storage.lookups.keep(check, self._provider.name, now)
        log.info(
            "lookup.made", provider=self._provider.name, valid=check.valid,
            line_type=check.line_type.value,
        )  # fmt: skip
        return check


def sms_problem(check: LineCheck | None) -> str | None:
    """Why no SMS may go to a number, by what its look-up said; None when nothing stops it."""
    if check is None:
        return None
    if not check.valid:
        return check.why or "lookup: not a valid number"
    if check.line_type is LineType.LANDLINE:
        return "a landline (by look-up): no SMS reaches it"
    if check.line_type is LineType.TOLL_FREE:
        return "a toll-free number (by look-up): no SMS reaches it"
    return None


def build_lookups(config: EngineConfig, storage: Storage) -> NumberLookups | None:
    """The look-ups [lookup] describes; None without it."""
    section = config.lookup
    if section is None:
        return None
    provider = TwilioLookup(
        str(section.api_url),
        section.username,
        section.password.get_secret_value(),
        timeout=section.timeout,
    )
    return NumberLookups(provider, storage, max_age=timedelta(days=section.max_age_days))
