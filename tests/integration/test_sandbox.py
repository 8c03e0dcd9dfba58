"""The Asterisk sandboxes themselves, through plain ARI (aiohttp, no engine code): the engine's
PBX answers, calls reach the PSTN sandbox and come back with AMD verdicts, the PSTN calls in,
restart keeps the addresses, and broken set-ups fail with errors that say what is wrong.

Each test registers an ARI app of its own, so it never displaces the engine's app when the
session's engine is running too; calls are steered into that app with a channel variable
ENGINE_APP, which wins over the dialplan global of the same name."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pbx_engine.ari.errors import basic_auth
from pbx_engine.lab.sandbox import asterisk as asterisk_module
from pbx_engine.lab.sandbox.asterisk import (
    ENGINE_HOST,
    AsteriskSandbox,
    EngineSandbox,
    PstnBehaviour,
    PstnSandbox,
)
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port

pytestmark = pytest.mark.integration

Event = dict[str, Any]


class Ari:
    """Just enough ARI for these tests: REST calls and one app's events in a queue."""

    def __init__(self, pbx: AsteriskSandbox, session: aiohttp.ClientSession, app: str) -> None:
        self.pbx = pbx
        self.session = session
        self.app = app
        self.events: asyncio.Queue[Event] = asyncio.Queue()

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, f"{self.pbx.ari_url}/ari{path}", **kwargs) as r:
            return r.status, await r.json(content_type=None) if r.content_length != 0 else None

    async def next_event(self, accept: Callable[[Event], bool], timeout: float = 15.0) -> Event:
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if accept(event):
                    return event

    async def originate(self, number: str, **extra: Any) -> str:
        # Our own channel id before the POST: an event that arrives first is still ours.
        channel_id = "sandbox-test-" + secrets.token_hex(4)
        status, body = await self.request(
            "POST",
            "/channels",
            json={
                "endpoint": f"PJSIP/{number}@pstn",
                "app": self.app,
                "channelId": channel_id,
                "timeout": 10,
                "variables": {"ENGINE_APP": self.app},
                **extra,
            },
        )
        assert status == 200, body
        return channel_id

    async def hangup(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}")  # 404 when already gone


@asynccontextmanager
async def ari_app(pbx: AsteriskSandbox, *, subscribe_all: bool = False) -> AsyncIterator[Ari]:
    app = "sandbox-test-" + secrets.token_hex(3)
    async with aiohttp.ClientSession(headers=pbx.ari_headers) as session:
        ari = Ari(pbx, session, app)
        url = f"{pbx.ari_url}/ari/events?app={app}" + (
            "&subscribeAll=true" if subscribe_all else ""
        )
        async with session.ws_connect(url, heartbeat=5) as ws:

            async def read() -> None:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        ari.events.put_nowait(json.loads(message.data))

            reader = asyncio.create_task(read())
            try:
                yield ari
            finally:
                reader.cancel()


def on_channel(channel_id: str, *types: str) -> Callable[[Event], bool]:
    return lambda e: e["type"] in types and e.get("channel", {}).get("id") == channel_id


async def test_given_the_engine_asterisk_when_asked_then_ari_answers_and_an_app_registers(
    engine_asterisk: EngineSandbox,
):
    async with ari_app(engine_asterisk) as ari:
        status, info = await ari.request("GET", "/asterisk/info")
        assert status == 200
        assert info["system"]["version"].startswith(("16.", "18.", "20.", "22."))

        status, apps = await ari.request("GET", "/applications")
        assert status == 200
        assert ari.app in {a["name"] for a in apps}

    # The credentials are the sandbox's own: anyone else is refused.
    async with (
        aiohttp.ClientSession() as stranger,
        stranger.get(
            f"{engine_asterisk.ari_url}/ari/asterisk/info",
            headers={"Authorization": basic_auth("asterisk", "asterisk")},
        ) as response,
    ):
        assert response.status == 401


@pytest.mark.parametrize(
    ("behaviour", "verdict"),
    [(PstnBehaviour.HUMAN, "HUMAN"), (PstnBehaviour.MACHINE, "MACHINE")],
)
async def test_given_an_answered_call_when_continued_into_amd_then_it_returns_with_the_verdict(
    engine_asterisk: EngineSandbox,
    pstn_asterisk: PstnSandbox,
    behaviour: PstnBehaviour,
    verdict: str,
):
    async with ari_app(engine_asterisk) as ari:
        started = time.monotonic()
        channel_id = await ari.originate(behaviour.number())
        try:
            answered = await ari.next_event(on_channel(channel_id, "StasisStart"))
            assert answered["args"] == []
            status, _ = await ari.request(
                "POST",
                f"/channels/{channel_id}/continue",
                params={"context": "engine-amd", "extension": "s", "priority": "1"},
            )
            assert status == 204

            back = await ari.next_event(on_channel(channel_id, "StasisStart"))
            latency = time.monotonic() - started
            assert back["args"][:2] == ["amd", verdict], back["args"]
            assert back["args"][2]  # the cause, e.g. HUMAN-800-800 or MAXWORDS-3-2
            print(f"{behaviour.name}: {back['args']} {latency:.2f} s after the originate")
        finally:
            await ari.hangup(channel_id)


async def test_given_a_busy_number_when_called_then_the_channel_ends_with_cause_17_unanswered(
    engine_asterisk: EngineSandbox,
    pstn_asterisk: PstnSandbox,
):
    async with ari_app(engine_asterisk) as ari:
        channel_id = await ari.originate(PstnBehaviour.BUSY.number())
        # An unanswered call never enters Stasis: ChannelDestroyed is its only end.
        end = await ari.next_event(on_channel(channel_id, "StasisStart", "ChannelDestroyed"))
        assert end["type"] == "ChannelDestroyed"
        assert end["cause"] == 17


async def test_given_the_pstn_when_it_calls_a_did_then_the_engine_pbx_hands_it_to_stasis(
    engine_asterisk: EngineSandbox,
    pstn_asterisk: PstnSandbox,
):
    did, caller = "+12025551999", "+13125550188"
    # subscribeAll: this app sees every channel, including ones headed for the engine's app.
    async with ari_app(engine_asterisk, subscribe_all=True) as ari:
        pstn_channel = await pstn_asterisk.call_engine(did, caller)
        try:

            def inbound_stasis(event: Event) -> bool:
                return (
                    event["type"] == "ChannelDialplan"
                    and event["dialplan_app"] == "Stasis"
                    and event["channel"]["caller"]["number"] == caller
                )

            event = await ari.next_event(inbound_stasis)
            # Recognised by address as the trunk, whatever the FastAGI look-up said.
            assert event["channel"]["name"].startswith("PJSIP/pstn-")
            assert event["dialplan_app_data"].startswith(
                f"{engine_asterisk.ari_app},inbound,{caller},{did},"
            )
        finally:
            async with aiohttp.ClientSession(headers=pstn_asterisk.ari_headers) as pstn:
                await pstn.delete(f"{pstn_asterisk.ari_url}/ari/channels/{pstn_channel}")


async def test_given_the_engine_asterisk_when_restarted_then_ports_and_credentials_stay(
    engine_asterisk: EngineSandbox,
):
    before = (
        engine_asterisk.ari_url,
        engine_asterisk.sip_port,
        engine_asterisk.ami_port,
        engine_asterisk.ari_username,
        engine_asterisk.ari_password,
    )
    old_pid = engine_asterisk.pid

    await engine_asterisk.restart()

    assert engine_asterisk.pid != old_pid
    assert before == (
        engine_asterisk.ari_url,
        engine_asterisk.sip_port,
        engine_asterisk.ami_port,
        engine_asterisk.ari_username,
        engine_asterisk.ari_password,
    )
    async with ari_app(engine_asterisk) as ari:
        status, _ = await ari.request("GET", "/asterisk/info")
        assert status == 200
    # The trunk is back too.
    assert "127.0.0.2" in await engine_asterisk.cli("pjsip show identify pstn")


async def test_given_no_asterisk_binary_when_starting_then_a_clear_error_and_nothing_left():
    sandbox = EngineSandbox(binary="/nonexistent/bin/asterisk")

    with pytest.raises(SandboxError, match=r"'/nonexistent/bin/asterisk' not found.*asterisk"):
        await sandbox.start()

    assert not sandbox.running
    assert sandbox.run_dir is None


async def test_given_a_chosen_port_taken_meanwhile_when_starting_then_it_retries_on_fresh_ones(
    monkeypatch: pytest.MonkeyPatch,
):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((ENGINE_HOST, 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # The first "free" HTTP port is one another process grabbed in the meantime.
        handed_out = iter([taken])

        def racing_free_port(host: str = ENGINE_HOST, kind: int = socket.SOCK_STREAM) -> int:
            if kind == socket.SOCK_STREAM:
                return next(handed_out, None) or free_port(host, kind)
            return free_port(host, kind)

        monkeypatch.setattr(asterisk_module, "free_port", racing_free_port)
        async with EngineSandbox() as sandbox:
            assert sandbox.running
            assert taken not in (sandbox.http_port, sandbox.ami_port)


async def test_given_a_broken_config_when_starting_then_the_error_quotes_asterisk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    configs = tmp_path / "asterisk-config"
    shutil.copytree(asterisk_module.ASTERISK_CONFIG_DIR, configs)
    pjsip = configs / "engine" / "pjsip.conf"
    pjsip.write_text(pjsip.read_text().replace("[agent-aor](!)", "[agent-aor-typo](!)"))
    monkeypatch.setattr(asterisk_module, "ASTERISK_CONFIG_DIR", configs)

    sandbox = EngineSandbox(agents={"agent-001": "pw"})
    with pytest.raises(SandboxError, match=r"(?s)logged \d+ error.*pjsip\.conf"):
        await sandbox.start()
    assert not sandbox.running
    assert sandbox.run_dir is None
