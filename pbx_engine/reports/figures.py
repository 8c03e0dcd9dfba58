"""Report arithmetic: sums per (day, campaign, agent) in, rates per row out. Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pbx_engine.storage.reports import DailySums

# Additive per-call sums: rows of one campaign (or agent) and day are added up, then divided.
_SUMS = (
    "attempts",
    "contacts",
    "abandons",
    "right_party",
    "promises",
    "promised",
    "kept",
    "handled",
    "handle_seconds",
)


@dataclass(frozen=True)
class ReportRow:
    day: date
    by: str  # the campaign's or the agent's name
    attempts: int
    contacts: int
    contact_rate: float | None  # contacts / attempts
    right_party: int
    promises: int
    promised: Decimal
    kept: int
    abandon_rate: float | None  # abandons / (abandons + contacts): the regulators' live calls
    average_handle_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                value.isoformat()
                if isinstance(value, date)
                else str(value)
                if isinstance(value, Decimal)
                else value
            )
        return out


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def report(sums: Iterable[DailySums], per: Literal["campaign", "agent"]) -> list[ReportRow]:
    """Rows per day and campaign, or per day and agent. Calls nobody took (no agent) have no
    agent row; calls of no campaign (inbound without a case) no campaign row."""
    totals: dict[tuple[date, str], dict[str, Any]] = {}
    for row in sums:
        name = getattr(row, per)
        if name is None:
            continue
        acc = totals.setdefault((row.day, name), dict.fromkeys(_SUMS, 0))
        for key in _SUMS:
            acc[key] += getattr(row, key) or 0
    rows = []
    for (day, name), t in sorted(totals.items()):
        rows.append(
            ReportRow(
                day=day,
                by=name,
                attempts=t["attempts"],
                contacts=t["contacts"],
                contact_rate=_ratio(t["contacts"], t["attempts"]),
                right_party=t["right_party"],
                promises=t["promises"],
                promised=Decimal(t["promised"]),
                kept=t["kept"],
                abandon_rate=_ratio(t["abandons"], t["abandons"] + t["contacts"]),
                average_handle_seconds=(
                    round(float(t["handle_seconds"]) / t["handled"], 1) if t["handled"] else None
                ),
            )
        )
    return rows


# A spreadsheet reads a cell that starts with one of these as a formula (`=HYPERLINK(...)`,
# `+cmd|...`, `@SUM(...)`; tab and carriage return hide the start of one).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula: text starting with = + - @ (or a tab
    or carriage return) gets a leading `'`. Only text is escaped: the decision is by the
    value's Python type, so numbers (int, float, Decimal) stay numbers, negative ones too, and
    a name such as "-5" typed into a text field is escaped like any other text."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def as_csv(rows: Iterable[ReportRow], per: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    names = [f.name for f in fields(ReportRow)]
    writer.writerow([per if n == "by" else n for n in names])
    for row in rows:
        values = row.as_json()  # dates become ISO text, Decimals their exact text
        writer.writerow(
            [
                ""
                if values[n] is None
                else values[n]
                if isinstance(getattr(row, n), (int, float, Decimal, date))
                else spreadsheet_safe(values[n])
                for n in names
            ]
        )
    return out.getvalue()


def occupancy(changes: Iterable[tuple[int, str, datetime]], until: datetime) -> float | None:
    """Share of logged-in time spent on calls and wrapping up, over every agent: changes are
    (agent id, state entered, when), sorted by agent then time; the last state lasts until
    `until`. None when nobody was logged in."""
    busy = logged_in = 0.0
    last: tuple[int, str, datetime] | None = None
    for change in [*changes, (None, "logged_out", until)]:
        if last is not None:
            agent, state, at = last
            end = change[2] if change[0] == agent else until
            seconds = max(0.0, (end - at).total_seconds())
            if state not in ("logged_out", "connecting"):
                logged_in += seconds
            if state in ("on_call", "wrap_up"):
                busy += seconds
        last = change if change[0] is not None else None
    return round(busy / logged_in, 4) if logged_in else None


def day_start(now: datetime, zone: tzinfo) -> datetime:
    """Midnight of `now`'s day where the centre is: the wallboard's "today" begins there."""
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)
