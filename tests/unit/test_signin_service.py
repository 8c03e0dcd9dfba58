"""Signing in and changing one's password, apart from HTTP: the throttle and the hash gate
refuse with the status (and the wait) the API answers with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from pbx_engine.signin.gate import HashGate
from pbx_engine.signin.passwords import hash_password
from pbx_engine.signin.service import (
    PasswordRefused,
    SignInBusy,
    SignInService,
    TooManyTries,
    WrongPassword,
)
from pbx_engine.signin.throttle import SignInThrottle, ThrottleLimits
from pbx_engine.storage.models import AgentRow

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ANNA = AgentRow(1, "anna", "Anna", None, "agent", None)
PASSWORD = "correct horse battery"


class FakeSessions:
    def __init__(self) -> None:
        self.hash = hash_password(PASSWORD, n=2**4)
        self.opened: list[str] = []
        self.changed: list[tuple[int, str | None]] = []

    async def password_hash(self, login: str):
        return (ANNA, self.hash) if login == "anna" else None

    async def open_browser_session(self, agent_id, id_sha256, csrf_token, expires_at) -> None:
        self.opened.append(id_sha256)

    async def change_password(self, agent_id: int, hashed: str, *, keep: str | None) -> list:
        self.changed.append((agent_id, keep))
        return ["other-session"]


def _service(gate: HashGate | None = None, per_login_and_address: int = 5):
    storage = SimpleNamespace(sessions=FakeSessions())
    throttle = SignInThrottle(ThrottleLimits(per_login_and_address=per_login_and_address))
    service = SignInService(storage, gate or HashGate(), throttle, clock=lambda: NOW)
    return service, storage.sessions


async def test_given_the_right_password_when_signing_in_then_a_session_is_opened():
    service, sessions = _service()
    signed_in = await service.sign_in("anna", PASSWORD, "192.0.2.1")
    assert signed_in.agent == ANNA
    assert sessions.opened == [signed_in.session.id_sha256]
    assert signed_in.session.expires_at > NOW


@pytest.mark.parametrize(("login", "password"), [("anna", "wrong password"), ("nobody", PASSWORD)])
async def test_given_a_wrong_login_or_password_when_signing_in_then_401(login, password):
    service, sessions = _service()
    with pytest.raises(WrongPassword) as refused:
        await service.sign_in(login, password, "192.0.2.1")
    assert refused.value.status == 401 and sessions.opened == []


async def test_given_too_many_failures_when_signing_in_then_429_with_a_wait():
    service, _ = _service(per_login_and_address=2)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await service.sign_in("anna", "wrong password", "192.0.2.1")
    with pytest.raises(TooManyTries) as refused:
        await service.sign_in("anna", PASSWORD, "192.0.2.1")
    assert refused.value.status == 429
    assert timedelta(0) < refused.value.retry_after <= timedelta(minutes=5)


async def test_given_a_full_hash_gate_when_signing_in_then_503_to_retry_at_once():
    gate = HashGate(concurrent=1, queued=0)
    service, _ = _service(gate)
    async with gate.admitted():
        with pytest.raises(SignInBusy) as refused:
            await service.sign_in("anna", PASSWORD, "192.0.2.1")
    assert refused.value.status == 503 and refused.value.retry_after == timedelta(0)


async def test_given_the_current_password_when_changing_it_then_other_sessions_end():
    service, sessions = _service()
    ended = await service.change_password(ANNA, PASSWORD, "a new long password", "x", "mine")
    assert ended == ["other-session"] and sessions.changed == [(ANNA.id, "mine")]


async def test_given_a_wrong_current_or_weak_new_password_then_403_or_422():
    service, sessions = _service()
    with pytest.raises(WrongPassword) as wrong:
        await service.change_password(ANNA, "not it", "a new long password", "x", None)
    with pytest.raises(PasswordRefused) as weak:
        await service.change_password(ANNA, PASSWORD, "short", "x", None)
    assert (wrong.value.status, weak.value.status) == (403, 422)
    assert sessions.changed == []
