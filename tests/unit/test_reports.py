"""Report arithmetic: rates from per-day sums, CSV, occupancy from state changes."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pbx_engine.reports.figures import as_csv, day_start, occupancy, report
from pbx_engine.storage.reports import DailySums

DAY = date(2026, 12, 1)


def sums(campaign, agent, **values):
    row = dict.fromkeys(
        (
            "attempts",
            "contacts",
            "abandons",
            "right_party",
            "promises",
            "promised",
            "kept",
            "handled",
            "handle_seconds",
        ),
        0,
    )
    fields = {"campaign": campaign, "agent": agent, **row, **values}
    return DailySums(DAY, campaign_id=None, agent_id=None, **fields)


ROWS = [
    sums(
        "early",
        "anna",
        attempts=0,
        contacts=4,
        right_party=3,
        promises=2,
        promised=Decimal("300.00"),
        kept=1,
        handled=4,
        handle_seconds=480.0,
    ),
    sums("early", "piotr", contacts=2, right_party=1, handled=2, handle_seconds=100.0),
    # calls nobody took: every attempt is counted here, and the abandons
    sums("early", None, attempts=20, abandons=1),
    sums("late", "anna", attempts=5, contacts=1, handled=1, handle_seconds=60.0),
]


def test_given_sums_per_agent_when_reported_per_campaign_then_rates_come_from_the_totals():
    early, late = report(ROWS, "campaign")
    assert (early.by, early.attempts, early.contacts) == ("early", 20, 6)
    assert early.contact_rate == 0.3
    assert early.right_party == 4
    assert (early.promises, early.promised, early.kept) == (2, Decimal("300.00"), 1)
    assert early.abandon_rate == round(1 / 7, 4)  # abandons over live calls (6 + 1)
    assert early.average_handle_seconds == 96.7  # (480 + 100) / 6
    assert (late.by, late.contact_rate, late.abandon_rate) == ("late", 0.2, 0.0)


def test_given_sums_when_reported_per_agent_then_calls_nobody_took_have_no_row():
    rows = report(ROWS, "agent")
    assert [r.by for r in rows] == ["anna", "piotr"]
    anna = rows[0]
    assert (anna.contacts, anna.promises, anna.average_handle_seconds) == (5, 2, 108.0)
    assert rows[1].contact_rate is None  # no attempts of his own: no rate, not zero


def test_given_rows_when_exported_then_the_csv_has_a_header_and_a_line_each():
    text = as_csv(report(ROWS, "campaign"), "campaign")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:3] == ["day", "campaign", "attempts"]
    assert lines[1][:3] == ["2026-12-01", "early", "20"]
    assert len(lines) == 3


def test_given_state_changes_when_computing_occupancy_then_busy_over_logged_in_time():
    t0 = datetime(2026, 12, 1, 9, tzinfo=UTC)
    m = timedelta(minutes=1)
    changes = [
        (1, "connecting", t0),
        (1, "ready", t0 + m),  # connecting time is not logged-in time
        (1, "on_call", t0 + 3 * m),
        (1, "wrap_up", t0 + 7 * m),
        (1, "ready", t0 + 8 * m),
        (1, "logged_out", t0 + 11 * m),
        (2, "paused", t0),
        (2, "on_call", t0 + 5 * m),
    ]
    # agent 1: 10 min logged in, 5 busy; agent 2: until t0+15: 15 min logged in, 10 busy
    assert occupancy(changes, t0 + 15 * m) == round(15 / 25, 4)
    assert occupancy([], t0) is None


def test_given_the_centres_zone_when_the_day_starts_then_at_its_own_midnight():
    warsaw = ZoneInfo("Europe/Warsaw")
    # 23:30 UTC on 30 November is already 1 December in Warsaw.
    start = day_start(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), warsaw)
    assert start == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert day_start(datetime(2026, 11, 30, 22, 59, tzinfo=UTC), warsaw).day == 30
    # The day clocks go forward is 23 hours long: it still begins at midnight, UTC+1.
    spring = day_start(datetime(2026, 3, 29, 12, tzinfo=UTC), warsaw)
    assert spring == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert day_start(datetime(2026, 3, 29, 12, tzinfo=UTC), UTC) == datetime(
        2026, 3, 29, tzinfo=UTC
    )
