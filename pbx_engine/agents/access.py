"""Disabling an agent (admins): his token, browser sessions and invitation links end at once,
and he is logged out of the engine; enabling him lets him be given a token or sign in again."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from pbx_engine.agents.accounts import Issued, NewAgent, SoftphoneAccounts
from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import AgentState, IllegalAgentTransition
from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.storage.agent_access import Disabled
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.signin import IssuedToken

log = structlog.get_logger(__name__)


class CannotDisableYourself(Refused):
    def __init__(self) -> None:
        super().__init__("you cannot disable yourself", 409)


class NoSuchAgent(Refused):
    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


class SoftphonesUnavailable(Refused):
    def __init__(self, error: Exception) -> None:
        super().__init__(f"the agent's softphone account needs Asterisk: {error}", 503)


class AgentAccessService:
    def __init__(
        self,
        storage: Storage,
        agents: AgentService,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        softphones: SoftphoneAccounts | None = None,
    ) -> None:
        self._storage = storage
        self._agents = agents
        self._softphones = softphones
        self._clock = clock

    async def disable(self, by: AgentRow, login: str) -> Disabled:
        if login == by.login:
            raise CannotDisableYourself()
        disabled = await self._storage.agent_access.disable(login, self._clock())
        if disabled is None:
            raise NoSuchAgent("no enabled agent with that login")
        status = self._agents.status(login)
        if status is not None and status.state is not AgentState.LOGGED_OUT:
            with contextlib.suppress(AgentError, IllegalAgentTransition):
                await self._agents.logout(login)
        if self._softphones is not None:
            await self._softphones.withdraw(login)  # Asterisk down: the next reconcile does it
        log.warning(
            "agent.disabled",
            agent=login,
            sessions_closed=disabled.sessions_closed,
            links_revoked=disabled.links_revoked,
        )
        return disabled

    async def enable(self, login: str) -> None:
        if not await self._storage.agent_access.enable(login):
            raise NoSuchAgent("no disabled agent with that login")
        if self._softphones is not None:
            with contextlib.suppress(AriError, AriUnavailable):
                await self._softphones.restore(login)  # else pushed at the next reconcile
        log.info("agent.enabled", agent=login)

    async def add(self, agent: NewAgent) -> list[Issued]:
        """Add or update an agent with his softphone account (409: refused, 503: no Asterisk);
        nothing is stored unless all of it is."""
        if self._softphones is None:
            raise SoftphonesUnavailable(RuntimeError("no ARI client"))
        try:
            issued = await self._softphones.enrol([agent])
        except (AriError, AriUnavailable) as error:
            raise SoftphonesUnavailable(error) from None
        log.info("agent.added", agent=agent.login, endpoint=agent.endpoint)
        return issued

    async def issue_token(self, login: str, lifetime: timedelta) -> IssuedToken | None:
        """A new API token for him (the old one stops working); None: no enabled agent."""
        return await self._storage.signin.issue_token(login, self._clock() + lifetime)
