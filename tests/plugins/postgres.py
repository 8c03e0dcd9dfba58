"""PostgreSQL fixtures: one private cluster per test session, a migrated template database built
once, and a fresh copy of it for each test that wants its own (`CREATE DATABASE … TEMPLATE`)."""

from __future__ import annotations

import itertools

import asyncpg
import pytest

from pbx_engine.config import DatabaseConfig
from pbx_engine.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate

TEMPLATE = "engine_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
async def postgres():
    # No skip: a PostgreSQL that cannot start fails the run.
    async with PostgresSandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
async def template_database(postgres: PostgresSandbox) -> str:
    dsn = await postgres.create_database(TEMPLATE)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return TEMPLATE


@pytest.fixture
async def database_dsn(postgres: PostgresSandbox, template_database: str) -> str:
    """A new database, already migrated, for this test alone."""
    return await postgres.create_database(f"test_{next(_numbers)}", template=template_database)


@pytest.fixture
async def storage(database_dsn: str):
    async with Storage.open(DatabaseConfig(dsn=database_dsn)) as opened:
        yield opened
