"""Password guessing is slowed per login and address, per address, and per login from every
address, without a guesser locking anyone else out; tries are counted before the check."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_engine.signin.throttle import SignInThrottle, ThrottleLimits, address_key

T0 = datetime(2026, 12, 2, 8, tzinfo=UTC)
S = timedelta(seconds=1)
WINDOW = timedelta(minutes=5)


def limits(**changes) -> ThrottleLimits:
    values = {"per_login_and_address": 5, "per_address": 30, "per_login": 50, "window": WINDOW}
    return ThrottleLimits(**(values | changes))


def fail(throttle: SignInThrottle, login: str, address: str, at: datetime) -> None:
    assert throttle.begin(login, address, at).allowed


def test_given_five_failures_from_an_address_when_a_sixth_try_comes_then_it_waits():
    throttle = SignInThrottle(limits())
    for i in range(5):
        fail(throttle, "anna", "192.0.2.1", T0 + i * S)
    refused = throttle.begin("Anna", "192.0.2.1", T0 + 10 * S)
    assert not refused.allowed and refused.refused_by == "login_and_address"
    assert refused.retry_after == WINDOW - 10 * S
    assert throttle.begin("piotr", "192.0.2.1", T0 + 10 * S).allowed  # another login
    assert throttle.begin("anna", "198.51.100.7", T0 + 10 * S).allowed  # another address
    assert throttle.begin("anna", "192.0.2.1", T0 + WINDOW).allowed  # the first expired


def test_given_tries_under_way_when_more_come_at_once_then_only_the_limit_goes_ahead():
    """Each try is counted when it begins, before its password is checked."""
    throttle = SignInThrottle(limits())
    decisions = [throttle.begin("anna", "192.0.2.1", T0) for _ in range(200)]
    assert sum(d.allowed for d in decisions) == 5


def test_given_a_right_password_when_it_succeeds_then_its_try_and_the_pairs_failures_go():
    throttle = SignInThrottle(limits(per_login_and_address=2))
    fail(throttle, "anna", "192.0.2.1", T0)
    attempt = throttle.begin("anna", "192.0.2.1", T0 + S).attempt
    throttle.succeeded(attempt)
    assert throttle.failures("anna", T0 + 2 * S) == 1  # the failure before stays counted
    fail(throttle, "anna", "192.0.2.1", T0 + 2 * S)
    fail(throttle, "anna", "192.0.2.1", T0 + 3 * S)
    assert not throttle.begin("anna", "192.0.2.1", T0 + 4 * S).allowed


def test_given_one_address_spraying_logins_when_past_its_limit_then_it_is_refused_anywhere():
    throttle = SignInThrottle(limits(per_address=30))
    for i in range(30):
        fail(throttle, f"user{i}", "203.0.113.9", T0 + i * S)
    refused = throttle.begin("someone-else", "203.0.113.9", T0 + 31 * S)
    assert refused.refused_by == "address"
    assert throttle.begin("someone-else", "192.0.2.1", T0 + 31 * S).allowed


def test_given_a_success_elsewhere_when_spraying_then_the_address_count_is_not_reset():
    """A guesser with an account of his own cannot wipe his address's failures with it."""
    throttle = SignInThrottle(limits(per_address=3))
    for i in range(2):
        fail(throttle, f"victim{i}", "203.0.113.9", T0 + i * S)
    throttle.succeeded(throttle.begin("guesser", "203.0.113.9", T0 + 2 * S).attempt)
    fail(throttle, "victim2", "203.0.113.9", T0 + 3 * S)
    assert throttle.begin("victim3", "203.0.113.9", T0 + 4 * S).refused_by == "address"


def test_given_a_login_guessed_from_many_addresses_then_its_owner_still_signs_in():
    """Past the login's limit, an address that has failed there is refused; one that has not
    (the agent at his own desk) may still try."""
    throttle = SignInThrottle(limits(per_login=10))
    for i in range(10):
        fail(throttle, "anna", f"203.0.113.{i}", T0 + i * S)
    assert throttle.begin("anna", "203.0.113.0", T0 + 20 * S).refused_by == "login"
    owner = throttle.begin("anna", "192.0.2.50", T0 + 20 * S)
    assert owner.allowed
    throttle.succeeded(owner.attempt)
    # a fresh guessing address gets one try, then joins the refused
    fail(throttle, "anna", "203.0.113.200", T0 + 21 * S)
    assert throttle.begin("anna", "203.0.113.200", T0 + 22 * S).refused_by == "login"


def test_given_an_ipv6_guesser_when_he_changes_address_in_his_64_then_it_counts_as_one():
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::5") != address_key("2001:db8:1:2::5")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key(None) == "-"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=400))
def test_given_any_flood_when_recorded_then_the_table_stays_bounded(tries):
    throttle = SignInThrottle(limits(max_keys=100))
    for i, (login, address) in enumerate(tries):
        throttle.begin(f"login{login}", f"10.0.{address // 256}.{address % 256}", T0 + i * S)
        assert throttle.size() <= 300


def test_given_old_failures_when_purged_then_nothing_is_left():
    throttle = SignInThrottle(limits())
    for i in range(20):
        fail(throttle, f"login{i}", f"192.0.2.{i}", T0)
    assert throttle.size() == 60
    assert throttle.purge(T0 + WINDOW) == 60 and throttle.size() == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("xyz")), max_size=300))
def test_given_any_tries_within_a_window_then_no_count_goes_past_its_limit(tries):
    small = limits(per_login_and_address=3, per_address=7, per_login=5)
    throttle = SignInThrottle(small)
    allowed: list[tuple[str, str]] = []
    for login, address in tries:
        if throttle.begin(login, address, T0).allowed:
            allowed.append((login, address))
    for login, address in set(allowed):
        assert allowed.count((login, address)) <= small.per_login_and_address
    for address in "xyz":
        assert sum(a == address for _, a in allowed) <= small.per_address
    for login in "abc":
        # past its limit a login takes one more try from each address that has not failed
        assert sum(name == login for name, _ in allowed) <= small.per_login + 3
