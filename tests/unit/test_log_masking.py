"""Debtors' phone numbers in log lines show only their last 4 digits; ids and times do not
change."""

import io
import json
import logging
from datetime import UTC, datetime

import structlog
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.logs import (
    MaskNumbersFilter,
    configure_logging,
    mask_number,
    mask_phone_numbers,
)


def masked(**event) -> dict:
    return mask_phone_numbers(None, "info", dict(event))


e164 = st.builds(
    lambda country, rest: f"+{country}{rest}",
    st.sampled_from(["1", "44", "48", "359", "49"]),
    st.text("0123456789", min_size=7, max_size=10),
)
national = st.builds(
    lambda a, b, c: f"({a}) {b}-{c}",
    st.text("23456789", min_size=3, max_size=3),
    st.text("0123456789", min_size=3, max_size=3),
    st.text("0123456789", min_size=4, max_size=4),
)
words = st.text("abcdefghij ,;", max_size=20)


def test_given_an_e164_number_when_masked_then_only_the_plus_and_last_4_digits_show():
    assert mask_number("+12025551234") == "+*******1234"
    assert mask_number("(202) 555-1234") == "******1234"
    assert mask_number("8001") == "8001"  # an extension is not a debtor's number


@given(
    number=st.one_of(e164, national),
    key=st.sampled_from(["number", "dialled", "caller", "callerid", "phone", "to"]),
)
def test_given_a_number_in_a_known_key_then_its_digits_but_the_last_4_are_hidden(number, key):
    digits = "".join(c for c in number if c.isdigit())
    shown = masked(event="dialer.call_placed", **{key: number})[key]
    assert shown.endswith(digits[-4:])
    assert sum(c.isdigit() for c in shown) == 4
    assert shown.count("*") == len(digits) - 4


@given(number=st.one_of(e164, national), before=words, after=words)
def test_given_a_number_in_free_text_then_it_is_masked_there_too(number, before, after):
    digits = "".join(c for c in number if c.isdigit())
    text = f"{before} {number} {after}"
    shown = masked(event="ari.error", error=text)["error"]
    assert digits not in "".join(c for c in shown if c.isdigit() or c == " ").replace(" ", "")
    assert digits[-4:] in shown


@given(
    moment=st.datetimes(timezones=st.just(UTC)),
    uniqueid=st.tuples(st.integers(10**9, 2 * 10**9), st.integers(0, 10**6)),
    case_id=st.integers(1, 10**12),
    an_id=st.uuids(),
)
def test_given_ids_and_times_then_nothing_changes(moment, uniqueid, case_id, an_id):
    channel = f"{uniqueid[0]}.{uniqueid[1]}"
    event = {
        "event": "call.ended",
        "timestamp": moment.isoformat(),
        "channel_id": channel,
        "case_id": case_id,
        "bridge_id": str(an_id),
        "attempt": case_id,
        "note": f"at {moment.isoformat()} channel {channel} bridge {an_id} on 127.0.0.1:5038",
    }
    assert masked(**event) == event


def test_given_nested_values_then_numbers_inside_are_masked():
    shown = masked(event="x", numbers=["+12025551234", "+12025555678"], leg={"to": "+48601234567"})
    assert shown["numbers"] == ["+*******1234", "+*******5678"]
    assert shown["leg"] == {"to": "+*******4567"}


def test_given_the_real_processor_chain_when_a_number_is_logged_then_the_line_hides_it():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        structlog.get_logger("t").info("dialer.call_placed", number="+12025551234", case_id=7)
    finally:
        structlog.reset_defaults()
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["number"] == "+*******1234" and line["case_id"] == 7
    datetime.fromisoformat(line["timestamp"])  # untouched


def test_given_masking_switched_off_then_the_number_is_logged_whole():
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream, mask_numbers=False)
    try:
        structlog.get_logger("t").info("dialer.call_placed", number="+12025551234")
    finally:
        structlog.reset_defaults()
    assert "+12025551234" in stream.getvalue()


def test_given_a_library_logs_a_number_through_the_standard_library_then_it_is_masked():
    record = logging.LogRecord(
        "aiohttp.access", logging.INFO, "", 0, "GET /cases?n=%s", ("+12025551234",), None
    )
    assert MaskNumbersFilter().filter(record)
    assert record.getMessage() == "GET /cases?n=+*******1234"
