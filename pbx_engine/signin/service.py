"""Who a request comes from (a bearer token or a browser session), signing in and out, an
agent's own password and API token.

Password checks pass the hash gate (a bounded number of hashes at once, a bounded queue) and
the throttle (failed tries per login and address); the HTTP layer adds only what is HTTP: the
cookie, CSRF and Origin checks, the headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.refusals import Refused
from pbx_engine.signin import sessions
from pbx_engine.signin.gate import HashGate
from pbx_engine.signin.passwords import WeakPassword, hash_password, verify_password
from pbx_engine.signin.sessions import NewSession, login_digest
from pbx_engine.signin.throttle import SignInThrottle
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow, BrowserSession
from pbx_engine.storage.signin import IssuedToken

log = structlog.get_logger(__name__)


class SignInBusy(Refused):
    """Every place at the hash gate is taken: a moment later one may be free."""

    retry_after = timedelta(0)

    def __init__(self) -> None:
        super().__init__("too many sign-ins at once: try again in a moment", 503)


class TooManyTries(Refused):
    def __init__(self, retry_after: timedelta | None) -> None:
        super().__init__("too many failed attempts: try again later", 429)
        self.retry_after = retry_after or timedelta()


class WrongPassword(Refused):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)


class PasswordRefused(Refused):
    """The new password is too weak."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 422)


@dataclass(frozen=True)
class SignedIn:
    agent: AgentRow
    session: NewSession


class SignInService:
    def __init__(
        self,
        storage: Storage,
        gate: HashGate,
        throttle: SignInThrottle,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._gate = gate
        self._throttle = throttle
        self._clock = clock

    # ------------------------------------------------------------------ who is asking
    async def agent_by_token(self, token: str) -> AgentRow | None:
        return await self._storage.agent_by_token(token)

    async def browser_session(self, session_id: str) -> BrowserSession | None:
        """The open, unexpired session of this cookie's id."""
        digest = sessions.session_digest(session_id)
        return await self._storage.sessions.browser_session(digest, self._clock())

    async def touch(self, session: BrowserSession, idle: timedelta) -> bool:
        """The session was used now; False: it had been left unused longer than `idle` (and
        is closed)."""
        return await self._storage.signin.touch_session(session.id_sha256, self._clock(), idle)

    async def still_open(self, session: BrowserSession, idle: timedelta) -> bool:
        """Not ended elsewhere (signed out, password changed) and, being used, not idle."""
        now = self._clock()
        if await self._storage.sessions.browser_session(session.id_sha256, now) is None:
            return False
        return await self._storage.signin.touch_session(session.id_sha256, now, idle)

    # ------------------------------------------------------------------ passwords
    async def sign_in(self, login: str, password: str, address: str) -> SignedIn:
        """A new browser session for the right password; SignInBusy, TooManyTries or
        WrongPassword (401) else."""
        now = self._clock()
        # From the gate's check to holding a place in it, nothing awaits: the check holds,
        # and the try is counted before the password is looked at.
        if self._gate.full:
            log.warning("signin.busy", address=address)
            raise SignInBusy()
        decision = self._throttle.begin(login, address, now)
        if decision.attempt is None:
            log.warning(
                "signin.throttled",
                login_sha256=login_digest(login),
                address=address,
                by=decision.refused_by,
            )
            raise TooManyTries(decision.retry_after)
        async with self._gate.admitted():
            found = await self._storage.sessions.password_hash(login)
            stored = found[1] if found else None
            # The hash is checked even for an unknown login: the answer takes as long.
            ok = await self._gate.run(verify_password, password, stored)
        if not ok or found is None:
            log.warning("signin.refused", login_sha256=login_digest(login), address=address)
            raise WrongPassword("wrong login or password", 401)
        self._throttle.succeeded(decision.attempt)
        agent = found[0]
        opened = sessions.new_session(now)
        await self._storage.sessions.open_browser_session(
            agent.id, opened.id_sha256, opened.csrf_token, opened.expires_at
        )
        log.info("signin.opened", agent=agent.login, role=agent.role, address=address)
        return SignedIn(agent, opened)

    async def sign_out(self, session: BrowserSession) -> None:
        await self._storage.sessions.close_browser_session(session.id_sha256)

    async def change_password(
        self, me: AgentRow, current: str, new: str, address: str, keep: str | None
    ) -> list[str]:
        """The agent's own password, the current one checked first (throttled as at sign-in);
        his other sessions end (their digests are returned), `keep` stays."""
        if self._gate.full:
            raise SignInBusy()
        decision = self._throttle.begin(me.login, address, self._clock())
        if decision.attempt is None:
            raise TooManyTries(decision.retry_after)
        async with self._gate.admitted():
            found = await self._storage.sessions.password_hash(me.login)
            ok = await self._gate.run(verify_password, current, found[1] if found else None)
        if not ok:
            log.warning("signin.password_change_refused", agent=me.login)
            raise WrongPassword("the current password is wrong", 403)
        self._throttle.succeeded(decision.attempt)
        try:
            hashed = await asyncio.to_thread(hash_password, new)
        except WeakPassword as error:
            raise PasswordRefused(str(error)) from None
        ended = await self._storage.sessions.change_password(me.id, hashed, keep=keep)
        log.info("signin.password_changed", agent=me.login, sessions_ended=len(ended))
        return ended

    # ------------------------------------------------------------------ API tokens
    async def token_expiry(self, me: AgentRow) -> datetime | None:
        return await self._storage.signin.token_expiry(me.id)

    async def rotate_token(self, me: AgentRow, lifetime: timedelta) -> IssuedToken:
        """A new token; the old one stops working at once."""
        issued = await self._storage.signin.rotate_token(me.id, self._clock() + lifetime)
        log.info("agent.token_rotated", agent=me.login, expires_at=issued.expires_at.isoformat())
        return issued
