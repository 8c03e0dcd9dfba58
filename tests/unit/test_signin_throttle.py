"""Password guessing is slowed per login."""

from datetime import UTC, datetime, timedelta

from pbx_engine.signin.throttle import SignInThrottle

T0 = datetime(2026, 12, 2, 8, tzinfo=UTC)
S = timedelta(seconds=1)


def test_given_five_failures_when_a_sixth_try_comes_then_it_waits_until_the_window_passes():
    throttle = SignInThrottle(limit=5, window=timedelta(minutes=5))
    for i in range(5):
        assert throttle.blocked_for("anna", T0 + i * S) is None
        throttle.failed("anna", T0 + i * S)
    assert throttle.blocked_for("Anna", T0 + 10 * S) == timedelta(minutes=5) - 10 * S
    assert throttle.blocked_for("piotr", T0 + 10 * S) is None  # per login
    assert throttle.blocked_for("anna", T0 + timedelta(minutes=5)) is None  # the first expired


def test_given_a_success_when_counting_then_earlier_failures_are_forgotten():
    throttle = SignInThrottle(limit=2)
    throttle.failed("anna", T0)
    throttle.succeeded("anna")
    throttle.failed("anna", T0 + S)
    assert throttle.blocked_for("anna", T0 + 2 * S) is None
    throttle.failed("anna", T0 + 2 * S)
    assert throttle.blocked_for("anna", T0 + 3 * S) is not None
