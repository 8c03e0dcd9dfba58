"""The daily report's rules, apart from HTTP: who may ask for which rows, which spans of days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from pbx_engine.reports import service as service_module
from pbx_engine.reports.service import ReportRefused, ReportService
from pbx_engine.storage.models import AgentRow

NOW = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)  # already the 24th in Warsaw
WARSAW = ZoneInfo("Europe/Warsaw")
ANNA = AgentRow(1, "anna", "Anna", None, "agent", None)
SUE = AgentRow(3, "sue", "Sue", None, "supervisor", None)


class FakeReports:
    def __init__(self) -> None:
        self.asked: list[tuple[date, date, str]] = []

    async def daily_figures(self, since: date, until: date, *, zone: str) -> list:
        self.asked.append((since, until, zone))
        return []


def _service() -> tuple[ReportService, FakeReports]:
    reports = FakeReports()
    storage = SimpleNamespace(reports=reports)
    return ReportService(storage, WARSAW, clock=lambda: NOW), reports


async def test_given_no_days_when_reported_then_the_week_to_the_centres_today():
    service, reports = _service()
    daily = await service.daily(SUE, "campaign", None, None)
    assert (daily.since, daily.until) == (date(2026, 11, 18), date(2026, 11, 24))
    assert reports.asked == [(daily.since, daily.until, "Europe/Warsaw")]


@pytest.mark.parametrize(
    ("who", "per", "since", "until", "status"),
    [
        (SUE, "team", None, None, 422),
        (ANNA, "campaign", None, None, 403),
        (SUE, "agent", "yesterday", None, 422),
        (SUE, "agent", None, "0001-01-03", 422),  # a week before it overflows
        (SUE, "agent", "1969-12-31", "1970-01-01", 422),
        (SUE, "agent", "2026-11-02", "2026-11-01", 422),
        (SUE, "agent", "2026-01-01", "2026-06-01", 422),  # more than 92 days
    ],
)
async def test_given_a_report_not_allowed_when_asked_then_refused(who, per, since, until, status):
    service, reports = _service()
    with pytest.raises(ReportRefused) as refused:
        await service.daily(who, per, since, until)
    assert refused.value.status == status and reports.asked == []


async def test_given_an_agent_when_reported_per_agent_then_only_his_rows(monkeypatch):
    service, reports = _service()

    async def two_agents(since, until, *, zone):
        return [SimpleNamespace(agent="anna"), SimpleNamespace(agent="bob")]

    reports.daily_figures = two_agents
    summed: list = []
    monkeypatch.setattr(service_module, "report", lambda sums, per: summed.extend(sums) or [])
    await service.daily(ANNA, "agent", None, None)
    assert [s.agent for s in summed] == ["anna"]
