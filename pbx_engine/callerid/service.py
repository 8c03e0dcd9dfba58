"""Caller ID on live calls: the pools in force, each number's use today, and its health.

The pools file is read at start (a bad one stops the start, loudly) and again on `reload()`
(SIGHUP or the API), where a bad file is refused and the running pools stay. Each number's
count today and last use are kept in memory, loaded from the attempts on record at start, so a
dial costs one indexed query (which numbers called this debtor lately). Health is judged from
the attempts of the last days every ten minutes; rested numbers are logged and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from pbx_engine.callerid.choice import CallerIdRule, Choice, Usage, assess_health, pick_caller_id
from pbx_engine.callerid.geography import Place, place_of
from pbx_engine.callerid.pools import EMPTY, NumberPools, load_pools
from pbx_engine.storage import Storage

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reloaded:
    pools: int
    numbers: int
    source: str


class CallerIdService:
    def __init__(self, storage: Storage, path: Path | None = None) -> None:
        self._storage = storage
        self.path = path
        self.pools: NumberPools = EMPTY
        self._usage: dict[str, Usage] = {}

    async def start(self) -> None:
        """Read the pools file (ConfigError if it is bad) and what the numbers did today."""
        if self.path is not None:
            self.pools = load_pools(self.path)
            log.info("callerid.pools_loaded", source=str(self.path), numbers=len(self._all()))
        await self._load_usage()
        await self.refresh_health()

    async def reload(self) -> Reloaded:
        """Read the pools file again; on ConfigError the running pools stay as they were."""
        if self.path is None:
            raise FileNotFoundError("no number-pools file is configured (number_pools_file)")
        try:
            pools = load_pools(self.path)
        except Exception as error:
            log.error("callerid.reload_refused", error=str(error))
            raise
        self.pools = pools
        await self._load_usage()
        await self.refresh_health()
        log.info("callerid.pools_reloaded", source=str(self.path), numbers=len(self._all()))
        return Reloaded(len(pools.pools), len(self._all()), str(self.path))

    def use(self, pools: NumberPools) -> None:
        """Put pools in force directly (tests, tools)."""
        self.pools = pools

    def _all(self) -> list[str]:
        return [n.e164 for n in self.pools.numbers()]

    async def _load_usage(self) -> None:
        now = _now()
        day_start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        used = await self._storage.caller_ids.caller_id_usage(self._all(), day_start)
        for e164 in self._all():
            usage = self._usage.setdefault(e164, Usage())
            count, last = used.get(e164, (0, None))
            usage.day, usage.used_today = now.date().isoformat(), count
            usage.last_used = max(filter(None, (usage.last_used, last)), default=None)

    async def refresh_health(self) -> list[str]:
        """Rest the numbers whose answer rate collapsed; returns the newly rested ones."""
        if not self._all():
            return []
        now = _now()
        rules = self.pools.health
        stats = await self._storage.caller_ids.caller_id_stats(
            self._all(), now - timedelta(days=rules.window_days)
        )
        for e164, figures in stats.items():
            self._usage.setdefault(e164, Usage()).window = (
                figures.calls,
                figures.answered,
                figures.screened,
            )
        newly = []
        for rest in assess_health(self.pools, stats, rules, now):
            usage = self._usage.setdefault(rest.e164, Usage())
            if usage.rested_until is None or usage.rested_until <= now:
                newly.append(rest.e164)
                log.warning("callerid.number_rested", number=rest.e164, reason=rest.reason)
            usage.rested_until, usage.rest_reason = rest.until, rest.reason
        return newly

    async def choose(
        self, rule: CallerIdRule, debtor_e164: str, *, mobile: bool | None, case_id: int | None
    ) -> Choice | None:
        """The number to present to this debtor now, counted as used; None if the campaign's
        pools have nothing usable (the caller then falls back to its fixed caller ID)."""
        now = _now()
        place = place_of(debtor_e164)
        if mobile is not None and mobile != place.mobile:
            place = Place(place.country, place.area, place.region, mobile)
        recent = {}
        if rule.not_same_within is not None and case_id is not None:
            recent = await self._storage.caller_ids.caller_ids_used_for_case(
                case_id, now - rule.not_same_within
            )
        choice = pick_caller_id(
            place, rule, self.pools, self._usage, now=now, recent_to_debtor=recent
        )
        if choice is None:
            log.warning("callerid.pools_exhausted", pools=list(rule.pools))
            return None
        self._usage.setdefault(choice.number.e164, Usage()).record(now)
        return choice

    def report(self) -> list[dict]:
        """Every number with its pool, place, use today and rest, for supervisors."""
        now = _now()
        rows = []
        for number in self.pools.numbers():
            usage = self._usage.get(number.e164, Usage())
            resting = usage.rested_until is not None and usage.rested_until > now
            window = usage.window
            rows.append(
                {
                    "number": number.e164,
                    "pool": number.pool,
                    "area": number.place.area,
                    "region": number.place.region,
                    "mobile": number.place.mobile,
                    "used_today": usage.count_on(now),
                    "daily_cap": number.daily_cap,
                    "last_used": usage.last_used.isoformat() if usage.last_used else None,
                    "rested_until": usage.rested_until.isoformat() if resting else None,
                    "rest_reason": usage.rest_reason if resting else None,
                    # Over the health window (days), as last assessed: a number screened far
                    # more than its pool's others is likely labelled (spam, scam likely).
                    "window_days": self.pools.health.window_days,
                    "calls": window[0] if window else None,
                    "answered": window[1] if window else None,
                    "screened": window[2] if window else None,
                }
            )
        return rows
