"""Numbered migrations from `sql/`: each applied once, in order, in its own transaction.

Applied versions are recorded with a checksum; an edited migration that was already applied is
refused, since the databases it ran on would no longer match the file. A session advisory lock
lets several engines start together: one migrates, the others wait and then find nothing to do.
The folder is `sql/` at the repository's top (PBX_ENGINE_SQL_DIR moves it; see resources.py).
Beside the migrations it holds `schema.sql`, the current schema for reading, which is not run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from pbx_engine.resources import SQL_DIR

log = structlog.get_logger(__name__)

_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
# Any constant will do; it keeps two engines starting together from migrating at once.
_LOCK_KEY = 0x5042_5845_4E47  # "PBXENG"
# The whole current schema, kept for readers and checked against the migrations by a test.
SCHEMA_FILE = "schema.sql"


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = SQL_DIR) -> list[Migration]:
    if not directory.is_dir():
        raise MigrationError(f"no migrations folder at {directory}")
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        if path.name == SCHEMA_FILE:
            continue
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNN_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(
                f"{path.name}: version {version} is taken by {migrations[version].name}"
            )
        migrations[version] = Migration(version, path.stem, path.read_text(encoding="utf-8"))
    return [migrations[v] for v in sorted(migrations)]


# A migration that rewrites a big table, or waits for another engine's, may take long: it is
# not held to the running engine's command_timeout.
MIGRATION_TIMEOUT = 3600.0


async def migrate(
    pool_or_conn: asyncpg.Pool | asyncpg.Connection, directory: Path = SQL_DIR
) -> list[str]:
    """Apply the pending migrations; returns their names (empty when up to date)."""
    migrations = load_migrations(directory)
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            try:
                return await _migrate(conn, migrations)
            except BaseException:
                # The pool does not reset sessions (Storage.open): a connection that may still
                # hold the migration lock (an unlock cut short) is closed, not reused.
                conn.terminate()
                raise
    return await _migrate(pool_or_conn, migrations)


@dataclass(frozen=True)
class MigrationState:
    """How a database stands against the code's migrations."""

    pending: list[Migration]  # to apply, in order
    unknown: list[str]  # applied there but absent here: the engine was rolled back


def compare(migrations: list[Migration], applied: Mapping[int, tuple[str, str]]) -> MigrationState:
    """`applied`: version -> (name, checksum), as recorded in the database. MigrationError when
    an applied migration's file has changed since: the databases it ran on no longer match it."""
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded[1] != migration.checksum:
            raise MigrationError(
                f"{migration.name}.sql was changed after it was applied; "
                "add a new migration instead of editing an applied one"
            )
    known = {m.version for m in migrations}
    return MigrationState(
        pending=[m for m in migrations if m.version not in applied],
        unknown=[applied[v][0] for v in sorted(applied) if v not in known],
    )


async def migration_state(conn: asyncpg.Connection, directory: Path = SQL_DIR) -> MigrationState:
    """What `migrate` would do, without doing it or taking its lock (it writes nothing)."""
    migrations = load_migrations(directory)
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return compare(migrations, {})
    return compare(migrations, await _applied(conn))


async def _applied(conn: asyncpg.Connection) -> dict[int, tuple[str, str]]:
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
    return {row["version"]: (row["name"], row["checksum"]) for row in rows}


async def _migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    # A session lock, not a transaction one: each migration commits on its own, and the lock
    # must cover the whole run. Whoever waits finds the work done when it gets the lock.
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _LOCK_KEY):
        log.info("storage.migration_lock_waiting")
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY, timeout=MIGRATION_TIMEOUT)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        # Refused before anything runs when an applied migration was edited.
        state = compare(migrations, await _applied(conn))
        if state.unknown:
            # An engine rolled back after a migration: not refused, since additive migrations
            # leave the older code working, and refusing would stop the dialling outright.
            log.warning("storage.database_newer_than_code", unknown=state.unknown)
        done: list[str] = []
        for migration in state.pending:
            async with conn.transaction():
                await conn.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("storage.migration_applied", migration=migration.name)
            done.append(migration.name)
        return done
    finally:
        # A broken connection has lost its session lock already; unlocking it would only hide
        # the error that broke it.
        if not conn.is_closed():
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
