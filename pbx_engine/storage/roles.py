"""The engine's own PostgreSQL role: it should own its database and hold no more.

A superuser (or a role that may create roles or databases) turns any flaw in the engine into a
flaw of the whole cluster: `COPY ... PROGRAM` runs shell commands, `pg_read_server_files` reads
the server's files, new roles outlive the engine. The engine warns at every start rather than
refusing: a cluster made before the compose file gained its own role (the init scripts run only
on an empty data folder) would otherwise stop an upgraded engine from starting at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RolePrivileges:
    name: str
    superuser: bool
    create_role: bool
    create_db: bool
    replication: bool
    bypass_rls: bool

    def excess(self) -> tuple[str, ...]:
        """The attributes beyond what an engine needs, by their SQL names."""
        flags = {
            "SUPERUSER": self.superuser,
            "CREATEROLE": self.create_role,
            "CREATEDB": self.create_db,
            "REPLICATION": self.replication,
            "BYPASSRLS": self.bypass_rls,
        }
        return tuple(name for name, held in flags.items() if held)


async def current_role(conn: asyncpg.Pool | asyncpg.Connection) -> RolePrivileges:
    row = await conn.fetchrow(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_roles WHERE rolname = current_user"
    )
    return RolePrivileges(
        name=row["rolname"],
        superuser=row["rolsuper"],
        create_role=row["rolcreaterole"],
        create_db=row["rolcreatedb"],
        replication=row["rolreplication"],
        bypass_rls=row["rolbypassrls"],
    )


async def warn_if_privileged(
    conn: asyncpg.Pool | asyncpg.Connection, allow_superuser: bool = False
) -> RolePrivileges:
    """Log `database.role_too_powerful` (level error, every start) when the role holds more than
    its database; `[database] allow_superuser = true` silences it for throwaway clusters."""
    role = await current_role(conn)
    excess = role.excess()
    if excess and not allow_superuser:
        log.error(
            "database.role_too_powerful",
            role=role.name,
            privileges=list(excess),
            advice="run the engine as a role that owns its database and nothing more "
            "(docker/postgres-init/10-engine-role.sh); or set [database] allow_superuser = true",
        )
    return role
