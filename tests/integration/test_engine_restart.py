"""The engine killed mid-call and started again: the call in progress is adopted from ARI and
the database, settled when it ends, and nothing is lost or dialled twice (the invariant checker
finds nothing wrong after it). `-s` prints what the crash cost."""

import asyncio
import signal
import sys
import time

import aiohttp

from pbx_engine.ari.errors import basic_auth
from pbx_engine.config import DatabaseConfig, parse_config
from pbx_engine.engine import build_engine
from pbx_engine.lab.invariants import agent_views, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate
from tests.waiting import eventually


async def test_given_the_engine_is_sigkilled_mid_call_when_it_restarts_then_the_call_is_adopted(
    postgres: PostgresSandbox,
    tmp_path,
):
    # Its own PBX pair: the session's engine holds the shared PBX's Stasis app.
    async with Telephony.create() as telephony:
        pbx = telephony.engine
        dsn = await postgres.create_database("restart_run")
        async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
            await migrate(storage.pool)
            await storage.agents.upsert_agent("ops", "Ops", role="admin")
            token = await storage.issue_agent_token("ops")
        http_port = free_port()
        raw = {
            "ari": {"url": pbx.ari_url, "username": pbx.ari_username, "password": pbx.ari_password},
            "database": {"dsn": dsn},
            "dialer": {"ring_timeout": 8},
            "http": {"port": http_port},
        }
        config_file = tmp_path / "engine.toml"
        config_file.write_text(
            f'[ari]\nurl = "{pbx.ari_url}"\nusername = "{pbx.ari_username}"\n'
            f'password = "{pbx.ari_password}"\n[database]\ndsn = "{dsn}"\n'
            f"[dialer]\nring_timeout = 8\n[http]\nport = {http_port}\n"
        )
        first = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "pbx_engine.cli",
            "run",
            "--config",
            str(config_file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{http_port}"
        try:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

                async def call_placed():
                    try:
                        async with http.post(
                            f"{base}/calls", json={"number": PstnBehaviour.NO_ANSWER.number()}
                        ) as response:
                            return (await response.json())["channel_id"]
                    except aiohttp.ClientError:
                        return None

                channel_id = await eventually(call_placed, timeout=20, what="the first engine")

                async def ringing():
                    async with http.get(f"{base}/attempts/{channel_id}") as response:
                        return (await response.json()).get("ringing_at")

                await eventually(ringing, timeout=10, what="the call to ring")
        finally:
            first.send_signal(signal.SIGKILL)  # no drain, no hang-up: a crash
            await first.wait()
            killed_at = time.monotonic()

        # Asterisk still rings the debtor; a new engine takes over the call.
        assert await channel_alive(pbx, channel_id)
        async with build_engine(parse_config(raw, environ={})) as engine:
            back_after = time.monotonic() - killed_at

            async def settled():
                attempt = await engine.storage.attempts.get_attempt(channel_id)
                return attempt if attempt and attempt.ended_at else None

            attempt = await eventually(settled, timeout=20, what="the adopted call to end")
            assert attempt.outcome == "no_answer"
            assert attempt.hangup_cause is not None
            dialled = await engine.storage.pool.fetchval(
                "SELECT count(*) FROM call_attempts WHERE dialled = $1", attempt.dialled
            )
            assert dialled == 1

            async def violations():
                snapshot = await take_snapshot(
                    engine.storage.pool,
                    pbx,
                    telephony.pstn,
                    agents=agent_views(engine.agents.all()),
                    placed={channel_id},
                )
                return [str(v) for v in check(snapshot)]

            async def clean():
                return not await violations()

            try:
                await eventually(clean, timeout=10, what="the invariants to hold")
            finally:
                print(
                    f"\nSIGKILL mid-call: engine back (adopting) {back_after:.2f} s after the "
                    f"kill; calls dropped: 0 of 1 (it rang on and ended as {attempt.outcome})"
                )
            assert await violations() == []


async def channel_alive(pbx, channel_id: str) -> bool:
    headers = {"Authorization": basic_auth(pbx.ari_username, pbx.ari_password)}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{pbx.ari_url}/ari/channels/{channel_id}") as response:
            return response.status == 200


async def test_given_the_engine_is_sigkilled_during_a_database_outage_when_it_restarts_then_what_it_owed_is_written(  # noqa: E501
    tmp_path,
):
    """A call ends while PostgreSQL is away: its end is owed, journalled in [state_dir], and
    the engine is killed before the database comes back. The next engine writes it first."""
    async with Telephony.create() as telephony, PostgresSandbox() as database:
        pbx = telephony.engine
        dsn = await database.create_database("journal_run")
        async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
            await migrate(storage.pool)
            await storage.agents.upsert_agent("ops", "Ops", role="admin")
            token = await storage.issue_agent_token("ops")
        http_port = free_port()
        state_dir = tmp_path / "state"
        raw = {
            "ari": {"url": pbx.ari_url, "username": pbx.ari_username, "password": pbx.ari_password},
            "database": {"dsn": dsn},
            "dialer": {"ring_timeout": 4},
            "state_dir": str(state_dir),
        }
        config_file = tmp_path / "engine.toml"
        config_file.write_text(
            f'state_dir = "{state_dir}"\n'
            f'[ari]\nurl = "{pbx.ari_url}"\nusername = "{pbx.ari_username}"\n'
            f'password = "{pbx.ari_password}"\n[database]\ndsn = "{dsn}"\n'
            f"[dialer]\nring_timeout = 4\n[http]\nport = {http_port}\n"
        )
        journal = state_dir / "owed-writes.jsonl"
        first = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx_engine.cli", "run", "--config", str(config_file),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{http_port}"
        try:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

                async def call_placed():
                    try:
                        async with http.post(
                            f"{base}/calls", json={"number": PstnBehaviour.NO_ANSWER.number()}
                        ) as response:
                            return (await response.json())["channel_id"]
                    except aiohttp.ClientError:
                        return None

                channel_id = await eventually(call_placed, timeout=20, what="the first engine")

                async def ringing():
                    async with http.get(f"{base}/attempts/{channel_id}") as response:
                        return (await response.json()).get("ringing_at")

                await eventually(ringing, timeout=10, what="the call to ring")
            await database.pause()

            async def end_journalled():
                return journal.exists() and "attempts.finish_attempt" in journal.read_text()

            # It rings out (4 s) with nobody to write its end down but the journal.
            await eventually(end_journalled, timeout=20, what="the call's end journalled")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        await database.resume()

        async with build_engine(parse_config(raw, environ={})) as engine:
            attempt = await engine.storage.attempts.get_attempt(channel_id)
            journal_after = journal.read_text()
            replayed = engine.records.health().written_late
        print(
            f"\nSIGKILL during an outage: the call's end, owed and journalled, written by the "
            f"next engine as {attempt.outcome} ({attempt.hangup_cause_text}), {replayed} "
            f"write(s) replayed; journal left "
            f"{len(journal_after)} bytes"
        )
        assert attempt.ended_at is not None and attempt.outcome == "no_answer"
        assert replayed >= 1  # made from the journal, not settled afresh
        assert journal_after == ""
