from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from pbx_engine.cases.dispositions import (
    Disposition,
    DispositionError,
    DispositionInput,
    next_action,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
WARSAW = ZoneInfo("Europe/Warsaw")


def test_a_promise_to_pay_is_followed_up_the_morning_after_the_promised_date():
    update = next_action(
        DispositionInput(Disposition.PROMISE_TO_PAY, Decimal("150.00"), date(2026, 12, 1)),
        NOW,
        WARSAW,
    )
    assert update.status == "promised"
    assert update.next_call_at == datetime(2026, 12, 2, 10, 0, tzinfo=WARSAW)


@pytest.mark.parametrize(
    ("amount", "when", "message"),
    [
        (None, date(2026, 12, 1), "positive amount"),
        (Decimal(0), date(2026, 12, 1), "positive"),
        (Decimal(5), None, "a date"),
        (Decimal(5), date(2026, 11, 1), "in the past"),
    ],
)
def test_a_promise_without_amount_or_date_or_in_the_past_is_refused(amount, when, message):
    with pytest.raises(DispositionError, match=message):
        next_action(DispositionInput(Disposition.PROMISE_TO_PAY, amount, when), NOW, WARSAW)


def test_a_callback_is_due_at_the_time_agreed():
    at = NOW + timedelta(days=2)
    assert (
        next_action(
            DispositionInput(Disposition.CALLBACK, callback_at=at), NOW, WARSAW
        ).next_call_at
        == at
    )
    with pytest.raises(DispositionError, match="in the past"):
        next_action(DispositionInput(Disposition.CALLBACK, callback_at=NOW), NOW, WARSAW)
    with pytest.raises(DispositionError, match="time zone"):
        next_action(
            DispositionInput(Disposition.CALLBACK, callback_at=datetime(2026, 12, 1)), NOW, WARSAW
        )


@pytest.mark.parametrize(
    ("code", "status", "next_call_at", "wrong_party"),
    [
        (Disposition.DISPUTE, "dispute", None, False),
        (Disposition.WRONG_PARTY, "open", None, True),
        (Disposition.REFUSED, "open", NOW + timedelta(days=3), False),
        (Disposition.RIGHT_PARTY, "open", None, False),
    ],
)
def test_other_dispositions_set_status_and_follow_up(code, status, next_call_at, wrong_party):
    update = next_action(DispositionInput(code), NOW, WARSAW)
    assert (update.status, update.next_call_at, update.wrong_party) == (
        status,
        next_call_at,
        wrong_party,
    )
