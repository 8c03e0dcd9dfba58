"""`sql/schema.sql` against the migrations: a database built from each, their catalogs compared.

The file is for reading; the engine migrates. Comparing catalogs rather than dumps keeps the file
free to be laid out for people (sections, comments, `bigserial`) while every column (type,
default, nullability, position), constraint, index, sequence and function (signature, language,
volatility, body) must match.
"""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.resources import SQL_DIR
from pbx_engine.storage.migrations import SCHEMA_FILE

pytestmark = pytest.mark.integration

# The runner's own bookkeeping table: made by the runner, not by a migration.
_RUNNERS_TABLE = "schema_migrations"

_CATALOGS = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, udt_name,
               character_maximum_length, numeric_precision, numeric_scale,
               column_default, is_nullable
          FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> $1
         ORDER BY table_name, column_name""",
    "constraints": """
        SELECT t.relname AS table_name, c.conname, c.contype,
               pg_get_constraintdef(c.oid) AS definition
          FROM pg_constraint c
          JOIN pg_class t ON t.oid = c.conrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
         WHERE n.nspname = 'public' AND t.relname <> $1
         ORDER BY t.relname, c.conname""",
    "indexes": """
        SELECT tablename, indexname, indexdef
          FROM pg_indexes
         WHERE schemaname = 'public' AND tablename <> $1
         ORDER BY tablename, indexname""",
    "sequences": """
        SELECT s.sequence_name, s.data_type, s.start_value, s.minimum_value, s.maximum_value,
               s.increment, s.cycle_option, owner.relname AS owned_by_table,
               a.attname AS owned_by_column
          FROM information_schema.sequences s
          JOIN pg_class seq ON seq.relname = s.sequence_name AND seq.relkind = 'S'
          LEFT JOIN pg_depend d ON d.objid = seq.oid AND d.deptype = 'a'
                               AND d.classid = 'pg_class'::regclass
          LEFT JOIN pg_class owner ON owner.oid = d.refobjid
          LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE s.sequence_schema = 'public' AND $1::text IS NOT NULL
         ORDER BY s.sequence_name""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS arguments,
               pg_get_function_result(p.oid) AS result, l.lanname, p.provolatile,
               p.proisstrict, p.prosrc
          FROM pg_proc p
          JOIN pg_namespace n ON n.oid = p.pronamespace
          JOIN pg_language l ON l.oid = p.prolang
         WHERE n.nspname = 'public' AND $1::text IS NOT NULL
         ORDER BY p.proname, arguments""",
}


async def _catalog(conn: asyncpg.Connection) -> dict[str, list[tuple]]:
    return {
        name: [tuple(row.values()) for row in await conn.fetch(sql, _RUNNERS_TABLE)]
        for name, sql in _CATALOGS.items()
    }


@pytest.fixture
async def schema_file_db(postgres: PostgresSandbox) -> AsyncIterator[asyncpg.Connection]:
    """A database built from `sql/schema.sql` alone."""
    name = "from_schema_file"
    conn = await asyncpg.connect(await postgres.create_database(name))
    try:
        await conn.execute((SQL_DIR / SCHEMA_FILE).read_text(encoding="utf-8"))
        yield conn
    finally:
        await conn.close()
        await postgres.drop_database(name)


def _differences(expected: dict[str, list[tuple]], actual: dict[str, list[tuple]]) -> list[str]:
    lines = []
    for catalog in _CATALOGS:
        only_migrations = sorted(set(expected[catalog]) - set(actual[catalog]), key=str)
        only_schema = sorted(set(actual[catalog]) - set(expected[catalog]), key=str)
        lines += [f"{catalog}: migrations only: {row}" for row in only_migrations]
        lines += [f"{catalog}: schema.sql only: {row}" for row in only_schema]
    return lines


async def test_given_a_database_from_schema_sql_and_one_from_the_migrations_then_they_are_alike(
    db: asyncpg.Connection, schema_file_db: asyncpg.Connection
):
    migrated = await _catalog(db)
    from_file = await _catalog(schema_file_db)
    # Each catalog found something: an empty query on both sides would compare equal.
    assert all(migrated[catalog] for catalog in _CATALOGS), migrated
    assert _differences(migrated, from_file) == []
    assert migrated == from_file  # the same rows in the same order (column positions included)


async def test_given_a_schema_that_lost_a_not_null_when_compared_then_the_column_is_named(
    db: asyncpg.Connection, schema_file_db: asyncpg.Connection
):
    await schema_file_db.execute("ALTER TABLE teams ALTER COLUMN name DROP NOT NULL")
    await schema_file_db.execute("DROP INDEX payments_case_idx")
    differences = _differences(await _catalog(db), await _catalog(schema_file_db))
    only_in_file = "columns: schema.sql only: ('teams', 'name'"
    assert any(line.startswith(only_in_file) for line in differences)
    assert any("payments_case_idx" in line for line in differences)
