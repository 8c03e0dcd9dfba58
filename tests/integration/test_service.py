"""`pbx-engine run` as ops run it: a config file, the HTTP API, SIGTERM, a clean exit."""

import asyncio
import json
import signal
import sys

import aiohttp
import asyncpg

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate
from tests.waiting import eventually


async def test_given_a_config_file_when_run_then_it_serves_calls_and_drains_on_sigterm(
    telephony: Telephony,
    postgres: PostgresSandbox,
    tmp_path,
):
    pbx = telephony.engine
    http_port, metrics_port = free_port(), free_port()
    dsn = await postgres.create_database("service_run")
    async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
        await migrate(storage.pool)
        await storage.agents.upsert_agent("ops", "Operations", role="admin")
        token = await storage.issue_agent_token("ops")
        # A guest's browser phone a crashed run of this engine left on record.
        await storage.browser_phones.issued(
            "guest-00000000deadbeef", "service", "0ld0run0", made_for="an-invitation"
        )
    auth = {"Authorization": f"Bearer {token}"}
    config = tmp_path / "engine.toml"
    config.write_text(
        f"""
[ari]
url = "{pbx.ari_url}"
username = "{pbx.ari_username}"
app = "pbx-engine-service"

[database]
dsn = "{dsn}"

[dialer]
ring_timeout = 6
engine_name = "service"

[logging]
format = "json"

[http]
port = {http_port}

[metrics]
port = {metrics_port}
"""
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbx_engine.cli",
        "run",
        "--config",
        str(config),
        env={"PBX_ENGINE_ARI_PASSWORD": pbx.ari_password, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with aiohttp.ClientSession(headers=auth) as http:

            async def ready():
                try:
                    async with http.get(f"{base}/ready") as response:
                        return response.status == 200 and await response.json()
                except aiohttp.ClientError:
                    return False

            readiness = await eventually(ready, timeout=20, what="the service to be ready")
            assert readiness["checks"] == {"ari": "ok", "database": "ok", "recording": "ok"}
            # Its run is on record, for other engines sharing the PBX to watch its beat.
            assert await _runs_on_record(dsn) == ["pbx-engine-service"]
            # What the crashed run left is gone by the time it is ready.
            assert await _fetch(dsn, "SELECT endpoint FROM browser_phones") == []
            async with http.get(f"{base}/health") as response:
                assert response.status == 200

            async with http.post(
                f"{base}/calls", json={"number": "+1"}, headers={"Authorization": "Bearer wrong"}
            ) as response:
                assert response.status == 401

            async with http.post(f"{base}/calls", json={"number": "12"}) as response:
                assert response.status == 422
                assert (await response.json())["errors"][0]["field"] == "number"

            number = PstnBehaviour.BUSY.number()
            async with http.post(f"{base}/calls", json={"number": number}) as response:
                assert response.status == 202
                channel_id = (await response.json())["channel_id"]

            async def settled():
                async with http.get(f"{base}/attempts/{channel_id}") as response:
                    body = await response.json()
                    return body if body.get("ended_at") else None

            attempt = await eventually(settled, timeout=15, what="the attempt to settle")
            assert attempt["outcome"] == "busy"
            assert attempt["hangup_cause"] == 17

            # The metrics site, on its own port, asks for no token.
            async with aiohttp.ClientSession() as anonymous:
                async with anonymous.get(f"http://127.0.0.1:{metrics_port}/metrics") as response:
                    assert response.status == 200
                    scrape = await response.text()
            assert 'pbx_engine_calls_finished_total{campaign="(none)",outcome="busy"} 1.0' in scrape
            assert "pbx_engine_ari_connected 1.0" in scrape
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    events = [
        json.loads(line)["event"] for line in stderr.decode().splitlines() if line.startswith("{")
    ]
    assert "engine.started" in events
    assert events[-1] == "engine.stopped"
    assert await _runs_on_record(dsn) == []  # a clean stop: nobody is to take it over


async def _runs_on_record(dsn: str) -> list[str]:
    """The ARI apps of the engines' runs on record."""
    return [row["app"] for row in await _fetch(dsn, "SELECT app FROM engine_runs")]


async def _fetch(dsn: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()
