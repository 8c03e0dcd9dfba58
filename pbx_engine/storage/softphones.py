"""Softphone accounts the engine manages (table softphone_accounts), and enrolling agents with
them in one transaction: the agents, their accounts, and a push to Asterisk before the commit,
so a push that fails stores nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

from pbx_engine.storage.models import SoftphoneAccount


@dataclass(frozen=True)
class Enrolment:
    """An agent to add or update; `account`: a new managed account for his endpoint (None:
    keep what he has, or an endpoint from Asterisk's files when `managed` is False)."""

    login: str
    name: str
    team: str | None
    role: str
    endpoint: str | None
    account: SoftphoneAccount | None = None
    managed: bool = True


@dataclass(frozen=True)
class ManagedAccount:
    login: str
    account: SoftphoneAccount
    disabled: bool


class EndpointTaken(Exception):
    """Another agent has this endpoint already."""


_ACCOUNT_COLUMNS = (
    "SELECT a.login, s.endpoint, s.md5_cred, s.realm, a.disabled_at IS NOT NULL AS disabled "
    "FROM softphone_accounts s JOIN agents a ON a.id = s.agent_id"
)


def _managed(row: asyncpg.Record) -> ManagedAccount:
    account = SoftphoneAccount(row["endpoint"], row["md5_cred"], row["realm"])
    return ManagedAccount(row["login"], account, row["disabled"])


class SoftphoneStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def accounts(self) -> list[ManagedAccount]:
        rows = await self.pool.fetch(f"{_ACCOUNT_COLUMNS} ORDER BY s.endpoint")
        return [_managed(row) for row in rows]

    async def account_of(self, login: str) -> ManagedAccount | None:
        row = await self.pool.fetchrow(f"{_ACCOUNT_COLUMNS} WHERE a.login = $1", login)
        return _managed(row) if row else None

    async def by_endpoint(self, endpoint: str) -> ManagedAccount | None:
        row = await self.pool.fetchrow(f"{_ACCOUNT_COLUMNS} WHERE s.endpoint = $1", endpoint)
        return _managed(row) if row else None

    async def endpoint_owner(self, endpoint: str) -> str | None:
        """The login of the agent (enabled or not) whose softphone this endpoint is."""
        return await self.pool.fetchval(
            "SELECT login FROM agents WHERE sip_endpoint = $1", endpoint
        )

    async def enrol(
        self, enrolments: list[Enrolment], push: Callable[[], Awaitable[None]]
    ) -> list[SoftphoneAccount]:
        """Store every agent and account, then `push()`, then commit; returns the managed
        accounts the agents had and lost (a new endpoint, or none managed any more)."""
        replaced: list[SoftphoneAccount] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for enrolment in enrolments:
                old = await _enrol_one(conn, enrolment)
                if old is not None:
                    replaced.append(old)
            await push()
        return replaced

    async def forget(self, endpoint: str) -> None:
        await self.pool.execute("DELETE FROM softphone_accounts WHERE endpoint = $1", endpoint)


async def _team_id(conn: asyncpg.Connection, team: str | None) -> int | None:
    if team is None:
        return None
    return await conn.fetchval(
        "INSERT INTO teams (name) VALUES ($1) "
        "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
        team,
    )


async def _enrol_one(conn: asyncpg.Connection, enrolment: Enrolment) -> SoftphoneAccount | None:
    try:
        agent_id = await conn.fetchval(
            """INSERT INTO agents (login, name, sip_endpoint, role, team_id)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (login) DO UPDATE SET name = EXCLUDED.name,
                   sip_endpoint = EXCLUDED.sip_endpoint, role = EXCLUDED.role,
                   team_id = EXCLUDED.team_id
               RETURNING id""",
            enrolment.login,
            enrolment.name,
            enrolment.endpoint,
            enrolment.role,
            await _team_id(conn, enrolment.team),
        )
    except asyncpg.UniqueViolationError:
        raise EndpointTaken(enrolment.endpoint) from None
    old = await conn.fetchrow(
        "SELECT endpoint, md5_cred, realm FROM softphone_accounts WHERE agent_id = $1", agent_id
    )
    keep = enrolment.managed and enrolment.account is None
    if old is not None and not keep:
        await conn.execute("DELETE FROM softphone_accounts WHERE agent_id = $1", agent_id)
    if enrolment.account is not None:
        account = enrolment.account
        await conn.execute(
            "INSERT INTO softphone_accounts (endpoint, agent_id, realm, md5_cred) "
            "VALUES ($1, $2, $3, $4)",
            account.endpoint,
            agent_id,
            account.realm,
            account.md5_cred,
        )
    if old is None or keep:
        return None
    return SoftphoneAccount(old["endpoint"], old["md5_cred"], old["realm"])
