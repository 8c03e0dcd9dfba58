"""CSV exports: no cell a spreadsheet would run as a formula; numbers stay numbers."""

import csv
import io
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.reports.figures import ReportRow, as_csv, spreadsheet_safe


def test_given_text_starting_like_a_formula_when_escaped_then_a_quote_comes_first():
    for text in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(text) == "'" + text


def test_given_plain_text_or_numbers_when_escaped_then_they_are_unchanged():
    for value in ("anna", "", " =x", "1-2", -5, -2.5, Decimal("-3.10"), 0, None):
        assert spreadsheet_safe(value) == value


@given(st.text())
def test_given_any_text_when_escaped_then_it_never_starts_like_a_formula(text):
    safe = spreadsheet_safe(text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe in (text, "'" + text)


def test_given_a_campaign_named_like_a_formula_when_exported_then_only_its_name_is_escaped():
    row = ReportRow(
        day=date(2026, 12, 1),
        by="=cmd|' /C calc'!A0",
        attempts=3,
        contacts=1,
        contact_rate=-0.5,  # not a real rate: a negative number must stay a number
        right_party=0,
        promises=0,
        promised=Decimal("-12.50"),
        kept=0,
        abandon_rate=None,
        average_handle_seconds=None,
    )
    [header, line] = list(csv.reader(io.StringIO(as_csv([row], "campaign"))))
    cells = dict(zip(header, line, strict=True))
    assert cells["campaign"] == "'=cmd|' /C calc'!A0"
    assert (cells["contact_rate"], cells["promised"]) == ("-0.5", "-12.50")
    assert (cells["day"], cells["abandon_rate"]) == ("2026-12-01", "")
