"""Two engines on one database and one PBX, and the first engine's link to the database cut for
30 s in the middle of a campaign: a real partition (PostgreSQL in a network namespace, the first
engine's path to it taken down, its packets dropped without a word, nothing refused).

The cut engine places no call after the cut (the PBX, watched from outside, sees none); the
second engine, standing by, takes the campaign over within 10 s and dials the cases the first
did not; no case is dialled twice or against its retry rules; once the link is back the first
engine writes down how the calls it had up ended (nothing lost), finds its lease taken and
stands by; the invariant checker passes. Both engines are real processes (`pbx-engine run`),
each with its own ARI app and its own agent. `-s` prints the times."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import asyncpg

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.invariants import CallWatch, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.netns import TestHost
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.storage import Storage, migrate
from tests.integration.engines import Api, as_toml, engine_process
from tests.waiting import eventually

AGENTS = {"agent-001": "agent-001-secret", "agent-002": "agent-002-secret"}
ENGINES = {"engine-a": "anna", "engine-b": "olga"}  # each engine's agent
ENDPOINTS = {"anna": "agent-001", "olga": "agent-002"}
CAMPAIGN = "partition"
CASES = 40  # more than both engines can dial in the test: the campaign never runs dry
CUT_SECONDS = 30.0


def number_of(index: int) -> str:
    return PstnBehaviour.NO_ANSWER.number(f"+1202555{300 + index:03d}")


def settings(pbx, dsn: str, name: str, app: str, campaign_file: Path) -> dict:
    return {
        "campaign_files": [str(campaign_file)],
        "ari": {
            "url": pbx.ari_url,
            "username": pbx.ari_username,
            "password": pbx.ari_password,
            "app": app,
        },
        # A short command timeout: queries on the cut link give up instead of hanging.
        "database": {"dsn": dsn, "allow_superuser": True, "command_timeout": 5},
        "dialer": {"ring_timeout": 4, "caller_id": "+12025550999", "engine_name": name},
        "http": {"port": free_port()},
        "shutdown_grace": 5,
    }


async def placed(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT channel_id, case_id, placed_by, created_at, ended_at, outcome "
        "FROM call_attempts ORDER BY id"
    )


async def holder_of(pool: asyncpg.Pool, campaign_id: int, engine: str) -> bool:
    holder = await pool.fetchval(
        "SELECT holder FROM campaign_leases WHERE campaign_id = $1 AND expires_at > now()",
        campaign_id,
    )
    return holder == engine


async def test_an_engine_cut_off_from_the_database_stops_dialling_and_another_takes_over(
    tmp_path,
):
    async with (
        TestHost("db") as db_host,
        Telephony.create(agents=AGENTS) as telephony,
    ):
        shared_link = await db_host.link()  # the test's and engine-b's path to the database
        a_link = await db_host.link()  # engine-a's alone: the one cut
        async with PostgresSandbox(host=db_host) as postgres:
            await postgres.create_database(CAMPAIGN)
            dsn = postgres.dsn(CAMPAIGN, link=shared_link)
            async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
                await migrate(storage.pool)
                await storage.agents.upsert_agent("ops", "Ops", role="admin")
                admin = await storage.issue_agent_token("ops")
                tokens = {}
                for login, endpoint in ENDPOINTS.items():
                    await storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint)
                    tokens[login] = await storage.issue_agent_token(login)
                campaign_id = await storage.campaigns.upsert_campaign(CAMPAIGN, "progressive")
                for index in range(CASES):
                    await storage.cases.upsert_case(
                        creditor="Acme",
                        reference=f"P-{index}",
                        debtor_name=f"Debtor {index}",
                        amount_owed=Decimal("10.00"),
                        currency="USD",
                        numbers=[(number_of(index), "mobile")],
                        campaign_id=campaign_id,
                    )
            campaign_file = tmp_path / f"{CAMPAIGN}.toml"
            campaign_file.write_text(
                as_toml(
                    {
                        "name": CAMPAIGN,
                        "dial_mode": "progressive",
                        "compliance": "plain",
                        "max_lines": 2,
                        "agents": list(ENDPOINTS),
                    }
                )
            )
            pbx = telephony.engine
            configs = {}
            for name, dsn_of_engine, app in (
                ("engine-a", postgres.dsn(CAMPAIGN, link=a_link), pbx.ari_app),
                ("engine-b", dsn, "engine-b"),
            ):
                configs[name] = settings(pbx, dsn_of_engine, name, app, campaign_file)
                (tmp_path / f"{name}.toml").write_text(as_toml(configs[name]))
            phones = [
                SippPhone(endpoint, AGENTS[endpoint], pbx.sip_host, pbx.sip_port)
                for endpoint in ENDPOINTS.values()
            ]
            for phone in phones:
                await phone.start()
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
            try:
                async with (
                    CallWatch(pbx) as watch,
                    aiohttp.ClientSession() as http,
                    engine_process(tmp_path / "engine-a.toml", tmp_path / "engine-a.log"),
                    engine_process(tmp_path / "engine-b.toml", tmp_path / "engine-b.log"),
                ):
                    apis = {
                        name: Api(http, f"http://127.0.0.1:{config['http']['port']}")
                        for name, config in configs.items()
                    }
                    for name, login in ENGINES.items():
                        await eventually(
                            lambda api=apis[name]: api.up(admin), timeout=30, what=name
                        )
                        status, body = await apis[name].post("/agents/me/login", tokens[login])
                        assert status == 200, body
                    # Started on engine-a first, so that it holds the lease when engine-b
                    # starts the campaign too and stands by.
                    status, body = await apis["engine-a"].post(
                        f"/campaigns/{CAMPAIGN}/start", admin
                    )
                    assert status == 200, body
                    await eventually(
                        lambda: holder_of(pool, campaign_id, "engine-a"), timeout=10, what="a lease"
                    )
                    status, body = await apis["engine-b"].post(
                        f"/campaigns/{CAMPAIGN}/start", admin
                    )
                    assert status == 200, body

                    async def calls_by_a():
                        rows = await placed(pool)
                        return (
                            rows if sum(r["placed_by"] == "engine-a" for r in rows) >= 3 else None
                        )

                    before = await eventually(calls_by_a, timeout=40, what="engine-a dialling")
                    assert await holder_of(pool, campaign_id, "engine-a")
                    assert {r["placed_by"] for r in before} == {"engine-a"}, before

                    cut_at_db = await pool.fetchval("SELECT now()")
                    await a_link.cut()
                    cut_at = time.monotonic()

                    async def taken_by_b():
                        return await holder_of(pool, campaign_id, "engine-b")

                    await eventually(taken_by_b, timeout=15, interval=0.1, what="the takeover")
                    took_after = time.monotonic() - cut_at

                    async def first_by_b():
                        rows = [r for r in await placed(pool) if r["placed_by"] == "engine-b"]
                        return rows[0] if rows else None

                    await eventually(first_by_b, timeout=10, what="engine-b's first call")
                    dialled_after = time.monotonic() - cut_at
                    await asyncio.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
                    await a_link.restore()
                    restored_at = time.monotonic()

                    async def a_written_down():
                        rows = [r for r in await placed(pool) if r["placed_by"] == "engine-a"]
                        return rows if all(r["ended_at"] for r in rows) else None

                    by_a = await eventually(
                        a_written_down, timeout=60, what="engine-a's calls written down"
                    )
                    flushed_after = time.monotonic() - restored_at
                    # engine-a stands by: the lease stays engine-b's, and engine-a's first
                    # takes or renewals after the link came back were refused.
                    await asyncio.sleep(3)
                    assert await taken_by_b()

                    # Stopped on the standby first, so that it does not take the lease the
                    # other lets go.
                    for name in ("engine-a", "engine-b"):
                        status, body = await apis[name].post(f"/campaigns/{CAMPAIGN}/stop", admin)
                        assert status == 200, body

                    async def quiet():
                        rows = await placed(pool)
                        return rows if all(r["ended_at"] for r in rows) and not watch.up else None

                    rows = await eventually(quiet, timeout=30, what="every call ended")

                    # Nothing placed by engine-a after the cut: on record, and on the PBX.
                    late = [r for r in by_a if r["created_at"] > cut_at_db]
                    assert not late, f"engine-a placed calls after the cut: {late}"
                    seen_late = [
                        r["channel_id"]
                        for r in by_a
                        if watch.first_seen.get(r["channel_id"], 0.0) > cut_at + 1.0
                    ]
                    assert not seen_late, f"engine-a's calls seen up after the cut: {seen_late}"
                    assert all(r["outcome"] == "no_answer" for r in rows), rows
                    dialled = [r["case_id"] for r in rows]
                    assert len(dialled) == len(set(dialled)), f"a case dialled twice: {rows}"
                    assert any(r["placed_by"] == "engine-b" for r in rows)
                    assert set(watch.first_seen) == {r["channel_id"] for r in rows}
                    snapshot = await take_snapshot(
                        pool, pbx, telephony.pstn, placed=watch.first_seen
                    )
                    assert [str(v) for v in check(snapshot)] == []
                    assert took_after < 10.0, f"engine-b took over {took_after:.1f} s after the cut"
                    print(
                        f"\ncut for {CUT_SECONDS:.0f} s with {len(before)} calls placed by "
                        f"engine-a: engine-b held the campaign {took_after:.1f} s after the cut "
                        f"and dialled {dialled_after:.1f} s after it; engine-a's "
                        f"{len(by_a)} calls written down {flushed_after:.1f} s after the link "
                        f"came back; {len(rows)} calls, {len(set(dialled))} cases, none twice"
                    )
            finally:
                await pool.close()
                for phone in phones:
                    await phone.stop()
