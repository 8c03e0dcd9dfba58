"""Migrations and queries against a real PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest

from pbx_engine.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import MigrationError, Storage, migrate
from pbx_engine.storage.migrations import load_migrations


async def test_given_a_fresh_database_when_migrated_twice_then_the_second_run_applies_nothing(
    postgres: PostgresSandbox,
):
    conn = await asyncpg.connect(await postgres.create_database("fresh_twice"))
    try:
        names = [m.name for m in load_migrations()]
        assert names[:2] == ["001_initial", "002_case_import"]
        assert await migrate(conn) == names
        assert await migrate(conn) == []
        versions = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY 1")
        assert [r["name"] for r in versions] == names
    finally:
        await conn.close()


async def test_given_two_engines_start_together_when_both_migrate_then_neither_fails(
    postgres: PostgresSandbox,
):
    dsn = await postgres.create_database("fresh_concurrent")
    first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        results = await asyncio.gather(migrate(first), migrate(second))
        assert sorted(results, key=len) == [[], [m.name for m in load_migrations()]]
    finally:
        await first.close()
        await second.close()


async def test_given_an_applied_migration_was_edited_when_migrating_then_it_is_refused(
    postgres: PostgresSandbox,
    tmp_path,
):
    conn = await asyncpg.connect(await postgres.create_database("edited"))
    try:
        (tmp_path / "001_first.sql").write_text("CREATE TABLE a (id int);")
        assert await migrate(conn, tmp_path) == ["001_first"]
        (tmp_path / "001_first.sql").write_text("CREATE TABLE a (id bigint);")
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_given_a_badly_named_migration_when_migrating_then_the_error_names_it(
    postgres: PostgresSandbox,
    tmp_path,
):
    (tmp_path / "first.sql").write_text("SELECT 1;")
    conn = await asyncpg.connect(await postgres.create_database("badname"))
    try:
        with pytest.raises(MigrationError, match=r"first\.sql: migration files are named"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_given_a_migration_fails_when_migrating_then_nothing_of_it_remains(
    postgres: PostgresSandbox,
    tmp_path,
):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int); SELECT nope;")
    conn = await asyncpg.connect(await postgres.create_database("broken"))
    try:
        with pytest.raises(asyncpg.PostgresError):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    finally:
        await conn.close()


async def test_given_a_malformed_number_when_stored_then_the_schema_refuses_it(storage: Storage):
    with pytest.raises(asyncpg.CheckViolationError):
        await storage.upsert_case(
            creditor="Acme",
            reference="A-1",
            debtor_name="Jan Kowalski",
            amount_owed=Decimal("10.00"),
            currency="PLN",
            numbers=[("0048 600", "mobile")],
        )


async def test_given_a_case_is_imported_twice_when_upserted_then_it_is_updated_not_duplicated(
    storage: Storage,
):
    agent = await storage.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001", team="north")
    first, _ = await storage.upsert_case(
        creditor="Acme",
        reference="A-1",
        debtor_name="Jan Kowalski",
        amount_owed=Decimal("100.00"),
        currency="PLN",
        numbers=[("+48600100200", "mobile"), ("+48221234567", "landline")],
        owner_agent_id=agent,
    )
    second, phones = await storage.upsert_case(
        creditor="Acme",
        reference="A-1",
        debtor_name="Jan Kowalski",
        amount_owed=Decimal("80.00"),
        currency="PLN",
        numbers=[("+48600100200", "mobile")],
        owner_agent_id=agent,
    )
    assert first == second
    match = await storage.find_case_by_number("+48600100200")
    assert match is not None
    assert (match.case_id, match.owner_agent_id, match.phone_number_id) == (first, agent, phones[0])
    assert await storage.find_case_by_number("+48999999999") is None


async def test_given_an_attempt_when_it_goes_through_its_life_then_every_timestamp_is_kept(
    storage: Storage,
):
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    await storage.create_attempt(channel_id="c-1", dialled="+12025550100", caller_id="+1202555")
    await storage.mark_attempt_originated("c-1", t0)
    await storage.mark_attempt_ringing("c-1", t0 + timedelta(seconds=1))
    await storage.mark_attempt_ringing("c-1", t0 + timedelta(seconds=2))  # the first one stays
    await storage.mark_attempt_answered("c-1", t0 + timedelta(seconds=3))
    await storage.record_amd("c-1", "HUMAN", "HUMAN-800-800", t0 + timedelta(seconds=5))
    assert [a.channel_id for a in await storage.open_attempts()] == ["c-1"]

    assert await storage.finish_attempt(
        "c-1",
        ended_at=t0 + timedelta(seconds=9),
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        outcome="human",
    )
    # A late duplicate (the reconcile after a reconnect, say) does not overwrite the outcome.
    assert not await storage.finish_attempt(
        "c-1",
        ended_at=t0 + timedelta(seconds=30),
        hangup_cause=None,
        hangup_cause_text="channel lost",
        outcome="failed",
    )
    attempt = await storage.get_attempt("c-1")
    assert attempt.ringing_at == t0 + timedelta(seconds=1)
    assert attempt.outcome == "human"
    assert attempt.hangup_cause == 16
    assert attempt.ended_at == t0 + timedelta(seconds=9)
    assert await storage.open_attempts() == []
    assert await storage.ping()
