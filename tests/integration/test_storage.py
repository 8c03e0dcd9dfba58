"""Migrations, queries and the PostgreSQL sandbox against a real PostgreSQL."""

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from structlog.testing import capture_logs

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.sandbox import postgres as postgres_module
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lookups.provider import LineCheck, LineType, LookupFailed
from pbx_engine.lookups.service import NumberLookups
from pbx_engine.storage import MigrationError, Storage, StorageUnavailable, migrate
from pbx_engine.storage.migrations import load_migrations

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_empties = itertools.count(1)


@pytest.fixture
async def empty_dsn(postgres: PostgresSandbox) -> AsyncIterator[str]:
    """A database with no schema at all, for the migrations to start from."""
    name = f"empty_{next(_empties)}"
    yield await postgres.create_database(name)
    await postgres.drop_database(name)


@pytest.fixture
async def conn(empty_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(empty_dsn)
    try:
        yield connection
    finally:
        await connection.close()


def _case(reference: str = "A-1", numbers=(("+48600100200", "mobile"),), **changes) -> dict:
    return {
        "creditor": "Acme",
        "reference": reference,
        "debtor_name": "Jan Kowalski",
        "amount_owed": Decimal("100.00"),
        "currency": "PLN",
        "numbers": list(numbers),
        **changes,
    }


# ------------------------------------------------------------------------------ migrations
async def test_given_a_fresh_database_when_migrated_twice_then_the_second_run_applies_nothing(
    conn: asyncpg.Connection,
):
    names = [m.name for m in load_migrations()]
    assert names[0] == "001_initial"
    assert await migrate(conn) == names
    assert await migrate(conn) == []
    rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
    assert [r["name"] for r in rows] == names
    assert [r["checksum"] for r in rows] == [m.checksum for m in load_migrations()]


async def test_given_a_pool_when_migrated_then_it_works_as_with_a_connection(empty_dsn: str):
    async with Storage.open(DatabaseConfig(dsn=empty_dsn)) as storage:
        assert await migrate(storage.pool) == [m.name for m in load_migrations()]
        assert await migrate(storage.pool) == []


async def test_given_two_engines_start_together_when_both_migrate_then_neither_fails(
    empty_dsn: str,
):
    first, second = await asyncpg.connect(empty_dsn), await asyncpg.connect(empty_dsn)
    try:
        results = await asyncio.gather(migrate(first), migrate(second))
        # One did the work; the other waited for the lock and found nothing left to do.
        assert sorted(results, key=len) == [[], [m.name for m in load_migrations()]]
        # Both released the session lock: a third run gets it at once.
        assert await asyncio.wait_for(migrate(first), 5) == []
    finally:
        await first.close()
        await second.close()


async def test_given_an_applied_migration_was_edited_when_migrating_then_it_is_refused(
    conn: asyncpg.Connection, tmp_path
):
    (tmp_path / "001_first.sql").write_text("CREATE TABLE a (id int);")
    assert await migrate(conn, tmp_path) == ["001_first"]
    (tmp_path / "001_first.sql").write_text("CREATE TABLE a (id bigint);")
    (tmp_path / "002_second.sql").write_text("CREATE TABLE b (id int);")
    with pytest.raises(MigrationError, match=r"001_first\.sql was changed after it was applied"):
        await migrate(conn, tmp_path)
    # Refused before anything newer ran.
    assert await conn.fetchval("SELECT to_regclass('b')") is None


async def test_given_a_badly_named_migration_when_migrating_then_the_error_names_it(
    conn: asyncpg.Connection, tmp_path
):
    (tmp_path / "first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"first\.sql: migration files are named"):
        await migrate(conn, tmp_path)
    assert await conn.fetchval("SELECT to_regclass('schema_migrations')") is None


async def test_given_a_migration_fails_when_migrating_then_nothing_of_it_remains(
    conn: asyncpg.Connection, tmp_path
):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok (id int);")
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int); SELECT nope;")
    with pytest.raises(asyncpg.PostgresError):
        await migrate(conn, tmp_path)
    assert await conn.fetchval("SELECT to_regclass('half')") is None
    assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == 1
    # The failure released the lock: fixing the file lets the next run finish.
    (tmp_path / "002_broken.sql").write_text("CREATE TABLE half (id int);")
    assert await asyncio.wait_for(migrate(conn, tmp_path), 5) == ["002_broken"]


async def test_given_the_database_is_newer_than_the_code_when_migrating_then_it_warns(
    conn: asyncpg.Connection, tmp_path
):
    (tmp_path / "001_first.sql").write_text("CREATE TABLE a (id int);")
    (tmp_path / "002_second.sql").write_text("CREATE TABLE b (id int);")
    await migrate(conn, tmp_path)
    (tmp_path / "002_second.sql").unlink()  # the engine was rolled back
    with capture_logs() as logs:
        assert await migrate(conn, tmp_path) == []
    warnings = [e for e in logs if e["event"] == "storage.database_newer_than_code"]
    assert warnings and warnings[0]["unknown"] == ["002_second"]


# ------------------------------------------------------------------------------ schema
@pytest.mark.parametrize("number", ["0048600100200", "+048600100200", "+4860", "+48 600 100 200"])
async def test_given_a_malformed_number_when_stored_then_the_schema_refuses_it(
    storage: Storage, number: str
):
    with pytest.raises(asyncpg.CheckViolationError):
        await storage.cases.upsert_case(**_case(numbers=[(number, "mobile")]))


async def test_given_a_case_is_deleted_when_it_had_calls_then_its_numbers_go_and_calls_stay(
    storage: Storage, db: asyncpg.Connection
):
    case_id, (phone_id,) = await storage.cases.upsert_case(**_case())
    await storage.attempts.create_attempt(
        channel_id="c-del", dialled="+48600100200", case_id=case_id, phone_number_id=phone_id
    )
    await db.execute("DELETE FROM cases WHERE id = $1", case_id)
    assert await db.fetchval("SELECT count(*) FROM phone_numbers") == 0
    attempt = await storage.attempts.get_attempt("c-del")
    # The call history is the contact centre's record of what it did; it outlives the case.
    assert (attempt.case_id, attempt.phone_number_id) == (None, None)


async def test_given_an_unknown_outcome_when_finishing_then_the_schema_refuses_it(
    storage: Storage,
):
    await storage.attempts.create_attempt(channel_id="c-bad", dialled="+12025550100")
    with pytest.raises(asyncpg.CheckViolationError):
        await storage.attempts.finish_attempt(
            "c-bad", ended_at=T0, hangup_cause=16, hangup_cause_text="", outcome="maybe"
        )


async def test_given_a_call_refused_before_it_rang_then_it_is_kept_as_not_placed(
    storage: Storage,
):
    await storage.attempts.create_attempt(channel_id="c-np", dialled="+12025550100")
    await storage.attempts.finish_attempt(
        "c-np",
        ended_at=T0,
        hangup_cause=None,
        hangup_cause_text="not placed: 503",
        outcome="not_placed",
    )
    assert (await storage.attempts.get_attempt("c-np")).outcome == "not_placed"


async def test_given_a_callback_whose_call_was_not_placed_then_its_try_is_given_back(
    storage: Storage,
):
    callback = await storage.callbacks.create_callback(
        e164="+12025550100", due_at=T0, source="agent"
    )
    await storage.callbacks.callback_dialled(callback, "c-cb")
    assert await storage.callbacks.callback_not_placed(callback) == "pending"
    row = await storage.pool.fetchrow(
        "SELECT attempts, due_at, status FROM callbacks WHERE id = $1", callback
    )
    assert (row["attempts"], row["due_at"], row["status"]) == (0, T0, "pending")


# ------------------------------------------------------------------------------ queries
async def test_given_an_agent_and_a_campaign_when_upserted_twice_then_the_ids_stay(
    storage: Storage,
):
    first = await storage.agents.upsert_agent(
        "anna", "Anna", sip_endpoint="agent-001", team="north"
    )
    again = await storage.agents.upsert_agent("anna", "Anna Nowak", role="supervisor", team="south")
    assert first == again
    agent = await storage.agents.get_agent("anna")
    assert (agent.name, agent.role, agent.team, agent.sip_endpoint) == (
        "Anna Nowak",
        "supervisor",
        "south",
        None,
    )
    campaign = await storage.campaigns.upsert_campaign("spring", "preview", '{"max_lines": 2}')
    assert await storage.campaigns.upsert_campaign("spring", "predictive") == campaign
    with pytest.raises(asyncpg.CheckViolationError):
        await storage.campaigns.upsert_campaign("autumn", "robocall")


async def test_given_a_case_is_imported_twice_when_upserted_then_it_is_updated_not_duplicated(
    storage: Storage,
):
    agent = await storage.agents.upsert_agent(
        "anna", "Anna Nowak", sip_endpoint="agent-001", team="north"
    )
    first, _ = await storage.cases.upsert_case(
        **_case(
            numbers=[("+48600100200", "mobile"), ("+48221234567", "landline")],
            owner_agent_id=agent,
        )
    )
    second, phones = await storage.cases.upsert_case(
        **_case(amount_owed=Decimal("80.00"), owner_agent_id=agent)
    )
    assert first == second
    # The same reference from another creditor is another debt.
    other, _ = await storage.cases.upsert_case(**_case(creditor="Globex"))
    assert other != first
    match = await storage.cases.find_case_by_number("+48221234567")
    assert match is not None and match.case_id == first
    assert await storage.cases.find_case_by_number("+48999999999") is None


async def test_given_an_attempt_when_it_goes_through_its_life_then_every_timestamp_is_kept(
    storage: Storage,
):
    case_id, (phone_id,) = await storage.cases.upsert_case(**_case())
    attempt_id = await storage.attempts.create_attempt(
        channel_id="c-1",
        dialled="+48600100200",
        caller_id="+48221000000",
        case_id=case_id,
        phone_number_id=phone_id,
    )
    created = await storage.attempts.get_attempt("c-1")
    assert (created.id, created.outcome, created.originated_at) == (attempt_id, "pending", None)

    await storage.attempts.mark_attempt_originated("c-1", T0)
    await storage.attempts.mark_attempt_ringing("c-1", T0 + timedelta(seconds=1))
    await storage.attempts.mark_attempt_ringing(
        "c-1", T0 + timedelta(seconds=2)
    )  # the first one stays
    await storage.attempts.mark_attempt_answered("c-1", T0 + timedelta(seconds=3))
    await storage.attempts.record_amd("c-1", "HUMAN", "HUMAN-800-800", T0 + timedelta(seconds=5))
    assert [a.channel_id for a in await storage.attempts.open_attempts()] == ["c-1"]

    assert await storage.attempts.finish_attempt(
        "c-1",
        ended_at=T0 + timedelta(seconds=9),
        hangup_cause=16,
        hangup_cause_text="Normal Clearing",
        outcome="human",
    )
    attempt = await storage.attempts.get_attempt("c-1")
    assert attempt.originated_at == T0
    assert attempt.ringing_at == T0 + timedelta(seconds=1)
    assert attempt.answered_at == T0 + timedelta(seconds=3)
    assert (attempt.amd_status, attempt.amd_cause) == ("HUMAN", "HUMAN-800-800")
    assert attempt.amd_decided_at == T0 + timedelta(seconds=5)
    assert (attempt.hangup_cause, attempt.hangup_cause_text) == (16, "Normal Clearing")
    assert (attempt.case_id, attempt.phone_number_id) == (case_id, phone_id)
    assert await storage.attempts.open_attempts() == []


async def test_given_a_finished_attempt_when_finished_again_then_the_first_outcome_stays(
    storage: Storage,
):
    await storage.attempts.create_attempt(channel_id="c-2", dialled="+12025550100")
    assert await storage.attempts.finish_attempt(
        "c-2", ended_at=T0, hangup_cause=17, hangup_cause_text="User busy", outcome="busy"
    )
    # A late duplicate (the reconcile after a reconnect, say) does not overwrite the outcome.
    assert not await storage.attempts.finish_attempt(
        "c-2",
        ended_at=T0 + timedelta(seconds=30),
        hangup_cause=None,
        hangup_cause_text="channel lost",
        outcome="failed",
    )
    attempt = await storage.attempts.get_attempt("c-2")
    assert (attempt.outcome, attempt.hangup_cause, attempt.ended_at) == ("busy", 17, T0)
    assert not await storage.attempts.finish_attempt(
        "never-created", ended_at=T0, hangup_cause=16, hangup_cause_text="", outcome="failed"
    )
    assert await storage.attempts.get_attempt("never-created") is None


async def test_given_calls_in_several_states_when_listing_open_ones_then_only_unended_in_order(
    storage: Storage,
):
    for channel in ("c-a", "c-b", "c-c"):
        await storage.attempts.create_attempt(channel_id=channel, dialled="+12025550100")
    await storage.attempts.finish_attempt(
        "c-b", ended_at=T0, hangup_cause=16, hangup_cause_text="", outcome="no_answer"
    )
    assert [a.channel_id for a in await storage.attempts.open_attempts()] == ["c-a", "c-c"]


async def test_given_a_channel_id_is_reused_when_creating_an_attempt_then_it_is_refused(
    storage: Storage,
):
    await storage.attempts.create_attempt(channel_id="c-dup", dialled="+12025550100")
    with pytest.raises(asyncpg.UniqueViolationError):
        await storage.attempts.create_attempt(channel_id="c-dup", dialled="+12025550101")


# ------------------------------------------------------------------------------ the pool
async def test_given_no_server_when_connecting_then_storage_is_unavailable():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = holder.getsockname()[1]
        with pytest.raises(StorageUnavailable, match="cannot connect"):
            async with Storage.open(DatabaseConfig(port=port, min_connections=1)):
                pass


# ------------------------------------------------------------------------------ the sandbox
async def test_given_a_database_in_use_when_dropped_then_it_goes(postgres: PostgresSandbox):
    dsn = await postgres.create_database("in_use")
    client = await asyncpg.connect(dsn)
    await postgres.drop_database("in_use")
    assert client.is_closed() or not await _alive(client)
    admin = await asyncpg.connect(postgres.dsn())
    try:
        assert not await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = 'in_use'")
    finally:
        await admin.close()


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


async def test_given_the_chosen_port_is_taken_before_the_server_binds_then_it_takes_another(
    monkeypatch,
):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # The race: the port looked free when chosen, another process took it before pg_ctl.
        ports = iter([taken])
        real_free_port = postgres_module.free_port
        monkeypatch.setattr(
            postgres_module, "free_port", lambda host: next(ports, None) or real_free_port(host)
        )
        monkeypatch.setattr(postgres_module, "require_free", lambda *args: None)
        with capture_logs() as logs:
            async with PostgresSandbox() as sandbox:
                assert sandbox.port != taken
                conn = await asyncpg.connect(sandbox.dsn())
                await conn.close()
                folder = sandbox.dir
    assert "sandbox.postgres_port_taken_retrying" in [e["event"] for e in logs]
    assert not folder.exists()


async def test_given_an_amd_false_positive_estimate_then_abandon_rates_count_it_in(
    storage: Storage,
):
    campaign_id = await storage.campaigns.upsert_campaign("ofcom", "predictive")
    now = datetime.now(UTC)
    outcomes = ["machine"] * 20 + ["human"] * 9 + ["abandoned"]
    for i, outcome in enumerate(outcomes):
        channel = f"fp-{i}"
        await storage.attempts.create_attempt(
            channel_id=channel, dialled="+447700900123", campaign_id=campaign_id
        )
        if outcome == "human":
            await storage.pool.execute(
                "UPDATE call_attempts SET bridged_at = now() WHERE channel_id = $1", channel
            )
        if outcome == "abandoned":
            await storage.attempts.mark_attempt_abandoned(channel)
        await storage.attempts.finish_attempt(
            channel, ended_at=now, hangup_cause=16, hangup_cause_text="", outcome=outcome
        )
    plain = await storage.reports.abandon_rates(campaign_id, now)
    assert plain["24h"].as_json() == {"abandons": 1, "live": 10, "rate": 0.1}
    ofcom = await storage.reports.abandon_rates(campaign_id, now, amd_false_positive_share=0.05)
    # 20 machine verdicts x 5% = 1 person taken for a machine: (1 + 1) / (10 + 1)
    assert ofcom["24h"].rate == round(2 / 11, 4)
    assert ofcom["24h"].estimated_amd_false_positives == 1.0


async def test_given_a_debtor_with_two_cases_then_the_did_he_calls_picks_the_case_we_called(
    storage: Storage,
):
    """The same number is on two debts (two creditors); we called about the older one from
    DID A and about the newer one from DID B: calling back B means the newer debt."""
    number = "+13125550123"
    acme, acme_phones = await storage.cases.upsert_case(
        **_case(creditor="Acme", reference="DUO-1", numbers=[(number, "mobile")])
    )
    globex, globex_phones = await storage.cases.upsert_case(
        **_case(creditor="Globex", reference="DUO-2", numbers=[(number, "mobile")])
    )
    for channel, case_id, phones, did in (
        ("duo-a", acme, acme_phones, "+12025550151"),
        ("duo-b", globex, globex_phones, "+12025550152"),
    ):
        await storage.attempts.create_attempt(
            channel_id=channel,
            dialled=number,
            caller_id=did,
            case_id=case_id,
            phone_number_id=phones[0],
        )
    by_a = await storage.cases.find_case_by_number(number, "+12025550151")
    by_b = await storage.cases.find_case_by_number(number, "+12025550152")
    assert (by_a.case_id, by_a.matched_by) == (acme, "presented")
    assert (by_b.case_id, by_b.matched_by) == (globex, "presented")
    # Another DID: the case we called him about last.
    other = await storage.cases.find_case_by_number(number, "+18005550100")
    assert (other.case_id, other.matched_by) == (globex, "called")


class AnsweringProvider:
    """A look-up provider as the engine sees one (the interface, no server): says what it was
    told to, and counts the questions."""

    name = "test"

    def __init__(self, checks: dict[str, LineCheck]) -> None:
        self.checks = checks
        self.asked: list[str] = []

    async def check(self, e164: str) -> LineCheck:
        self.asked.append(e164)
        if e164 not in self.checks:
            raise LookupFailed("no answer")
        return self.checks[e164]


async def test_given_a_lookup_provider_then_a_dead_number_is_kept_dead_and_a_landline_marked(
    storage: Storage,
):
    mobile, landline, dead, silent = "+14155550101", "+14155550102", "+14155550103", "+14155550104"
    await storage.cases.upsert_case(
        **_case("LOOK-1", numbers=[(n, "unknown") for n in (mobile, landline, dead, silent)])
    )
    provider = AnsweringProvider(
        {
            mobile: LineCheck(mobile, True, LineType.MOBILE, "Verizon Wireless"),
            landline: LineCheck(landline, True, LineType.LANDLINE),
            dead: LineCheck(dead, False, why="lookup: no such number"),
        }
    )
    lookups = NumberLookups(provider, storage, max_age=timedelta(days=90))
    for number in (mobile, landline, dead, silent):
        await lookups.before_contact(number, T0)
    assert await lookups.before_contact(silent, T0) is None  # asked again: nothing was kept

    kinds = dict(await storage.pool.fetch("SELECT e164, kind FROM phone_numbers"))
    assert (kinds[mobile], kinds[landline], kinds[silent]) == ("mobile", "landline", "unknown")
    assert (
        await storage.pool.fetchval("SELECT reason FROM dead_numbers WHERE e164 = $1", dead)
        == "lookup: no such number"
    )
    # Kept for max_age: the provider is not asked again before then, and is after.
    await lookups.before_contact(mobile, T0 + timedelta(days=89))
    assert provider.asked.count(mobile) == 1
    await lookups.before_contact(mobile, T0 + timedelta(days=91))
    assert provider.asked.count(mobile) == 2
    assert provider.asked.count(silent) == 2


async def test_a_promise_is_kept_by_payments_from_the_centres_day_it_was_made(storage: Storage):
    """Made at 23:30 in New York (04:30 UTC the next day) and paid that same New York evening:
    kept in the centre's zone, which a UTC day would have missed; a payment short of the amount
    or after the grace (three days past the date) keeps nothing."""
    case_id, _ = await storage.cases.upsert_case(**_case("KEPT-1"))
    promise = await storage.pool.fetchval(
        """INSERT INTO dispositions (case_id, code, promise_amount, promise_date, created_at)
           VALUES ($1, 'promise_to_pay', 80, '2026-12-10', '2026-12-04 04:30+00')
           RETURNING id""",
        case_id,
    )

    async def kept(zone: str) -> bool:
        return await storage.pool.fetchval("SELECT promise_kept($1, $2)", promise, zone)

    await storage.cases.record_payment(case_id, Decimal("50"), date(2026, 12, 3), None)
    assert not await kept("America/New_York")  # 50 of 80
    await storage.cases.record_payment(case_id, Decimal("30"), date(2026, 12, 14), None)
    assert not await kept("America/New_York")  # the 30 came past the 13th
    await storage.cases.record_payment(case_id, Decimal("30"), date(2026, 12, 13), None)
    assert await kept("America/New_York")
    assert not await kept("UTC")  # the 3rd's 50 counted from the 4th: only 30 of 80
