"""PostgreSQL fixtures: one private cluster per test session, a migrated template database built
once, and a fresh copy of it for each test that wants its own (`CREATE DATABASE … TEMPLATE`).

    postgres           the PostgresSandbox (session); it failing to start fails the tests
    template_database  the name of the migrated template (session)
    database_dsn       the DSN of this test's own database, dropped afterwards
    db                 an asyncpg connection to it, for raw SQL
    storage            a Storage on it
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate

TEMPLATE = "engine_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
async def postgres() -> AsyncIterator[PostgresSandbox]:
    # No skip: a PostgreSQL that cannot start is an error in every test that needs it, so a
    # machine without the server cannot pass the suite by skipping it.
    async with PostgresSandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
async def template_database(postgres: PostgresSandbox) -> str:
    conn = await asyncpg.connect(await postgres.create_database(TEMPLATE))
    try:
        await migrate(conn)
    finally:
        # CREATE DATABASE … TEMPLATE refuses a template anyone is connected to.
        await conn.close()
    return TEMPLATE


@pytest.fixture
async def database_dsn(postgres: PostgresSandbox, template_database: str) -> AsyncIterator[str]:
    """A new database, already migrated, for this test alone."""
    name = f"test_{next(_numbers)}"
    yield await postgres.create_database(name, template=template_database)
    # Each copy is about 8 MB, in RAM when the cluster is; FORCE cuts off anything a test
    # left connected (an engine's pool that a failed test did not close).
    await postgres.drop_database(name)


@pytest.fixture
async def db(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_dsn)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def storage(database_dsn: str) -> AsyncIterator[Storage]:
    async with Storage.open(DatabaseConfig(dsn=database_dsn)) as opened:
        yield opened
