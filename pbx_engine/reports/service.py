"""The figures as asked for: a campaign's abandon rates and last day, the daily report of a
span of days (who may see which rows, how long a span may be), in the centre's time zone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal

from pbx_engine.compliance import ComplianceProfile
from pbx_engine.refusals import Refused
from pbx_engine.reports.figures import ReportRow, report
from pbx_engine.roles import may_supervise
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow
from pbx_engine.strategies.split import CaseResult, Comparison, compare_sides

MAX_REPORT_DAYS = 92
# Days a report may cover: beyond them the day's bounds in the centre's zone overflow.
REPORT_DAYS = (date(1970, 1, 1), date(2999, 12, 31))


class ReportRefused(Refused):
    pass


@dataclass(frozen=True)
class DailyReport:
    per: Literal["campaign", "agent"]
    since: date
    until: date
    zone: tzinfo
    rows: list[ReportRow]


def _day(value: str | None, default: date) -> date:
    return date.fromisoformat(value) if value else default


class ReportService:
    def __init__(
        self,
        storage: Storage,
        zone: tzinfo,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._zone = zone  # where the centre's days begin
        self._clock = clock

    async def split_report(self, campaign_id: int, split: str) -> list[Comparison]:
        """Champion against challenger on the split's cases (`strategies.split`)."""
        rows = await self._storage.strategies.split_results(
            campaign_id, split, zone=str(self._zone)
        )
        return compare_sides(
            [
                CaseResult(
                    r.side,
                    r.contacted,
                    r.right_party,
                    r.promised,
                    r.kept,
                    float(r.collected),
                    r.attempts,
                    r.messages,
                )
                for r in rows
            ]  # fmt: skip
        )

    async def campaign_figures(
        self, campaign_id: int, profile: ComplianceProfile
    ) -> dict[str, Any]:
        """The abandon target and rates (today is the centre's day), and the last 24 hours."""
        now = self._clock().astimezone(self._zone)
        rates = await self._storage.reports.abandon_rates(
            campaign_id, now, amd_false_positive_share=profile.amd_false_positive_share
        )
        last_24h = await self._storage.reports.campaign_report(
            campaign_id, now - timedelta(hours=24)
        )
        return {
            "abandon_target": profile.abandon_target,
            "abandon_rates": {period: rate.as_json() for period, rate in rates.items()},
            "last_24h": last_24h.as_json(),
        }

    async def daily(
        self, viewer: AgentRow, per: str, since_text: str | None, until_text: str | None
    ) -> DailyReport:
        """Per campaign (supervisors) or per agent and day, the week to today unless told; an
        agent gets his own rows only. ReportRefused (422, 403) says what is wrong."""
        if per not in ("campaign", "agent"):
            raise ReportRefused("per is campaign or agent", 422)
        if per == "campaign" and not may_supervise(viewer.role):
            raise ReportRefused("supervisors only", 403)
        today = self._clock().astimezone(self._zone).date()
        try:
            until = _day(until_text, today)
            since = _day(since_text, until - timedelta(days=6))
        except (ValueError, OverflowError):  # overflow: a week before 0001-01-01
            raise ReportRefused("from and to are dates (YYYY-MM-DD)", 422) from None
        if since < REPORT_DAYS[0] or until > REPORT_DAYS[1]:
            raise ReportRefused(f"reports cover {REPORT_DAYS[0]} to {REPORT_DAYS[1]}", 422)
        if since > until or (until - since).days >= MAX_REPORT_DAYS:
            raise ReportRefused(f"from must come before to, at most {MAX_REPORT_DAYS} days", 422)
        sums = await self._storage.reports.daily_figures(since, until, zone=str(self._zone))
        if not may_supervise(viewer.role):
            sums = [s for s in sums if s.agent == viewer.login]
        return DailyReport(per, since, until, self._zone, report(sums, per))
