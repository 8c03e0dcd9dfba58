"""Password hashes, browser sessions and CSRF checks (pure)."""

from datetime import UTC, datetime

import pytest

from pbx_engine.signin import sessions
from pbx_engine.signin.passwords import WeakPassword, hash_password, verify_password

FAST = {"n": 2**10}  # the tests need no protection against guessing


def test_given_a_password_when_hashed_then_only_it_verifies_and_salts_differ():
    stored = hash_password("correct horse", **FAST)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert hash_password("correct horse", **FAST) != stored  # a new salt each time


def test_given_the_default_cost_when_hashed_then_it_verifies():
    assert verify_password("s3cret-enough", hash_password("s3cret-enough"))


@pytest.mark.parametrize("stored", [None, "", "plain", "md5$1$2$3$aa$bb", "scrypt$x$8$1$aa$bb"])
def test_given_no_or_a_malformed_hash_when_verifying_then_false(stored):
    assert not verify_password("anything at all", stored)


def test_given_a_short_password_when_hashing_then_refused():
    with pytest.raises(WeakPassword, match="at least 8"):
        hash_password("short")


def test_given_a_new_session_then_the_browser_and_the_database_get_different_values():
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    opened = sessions.new_session(now)
    assert opened.id_sha256 == sessions.session_digest(opened.session_id)
    assert opened.session_id not in opened.id_sha256
    assert opened.expires_at == now + sessions.LIFETIME
    assert sessions.new_session(now).csrf_token != opened.csrf_token


@pytest.mark.parametrize(
    ("method", "sent", "ok"),
    [
        ("GET", None, True),
        ("HEAD", None, True),
        ("POST", None, False),
        ("POST", "", False),
        ("POST", "wrong", False),
        ("POST", "tok", True),
        ("DELETE", "tok", True),
        ("put", "tok2", False),
    ],
)
def test_given_a_request_when_checking_csrf_then_only_state_changes_need_the_token(
    method, sent, ok
):
    assert sessions.csrf_ok(method, "tok", sent) is ok


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "127.0.0.1:8080", True),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", True),
        ("https://desk.example.com", "desk.example.com", True),
        ("http://evil.example.com", "127.0.0.1:8080", False),
        ("http://127.0.0.1:8081", "127.0.0.1:8080", False),
        ("null", "127.0.0.1:8080", False),
    ],
)
def test_given_an_origin_when_checking_it_then_only_our_own_host_passes(origin, host, ok):
    assert sessions.same_origin(origin, host) is ok
