"""Telephony fixtures: the engine's Asterisk and the PSTN Asterisk, started once per session,
and an engine connected to them (with its own database) that tests share.

`pstn_asterisk` and `engine_asterisk` are the two halves of one `telephony` pair: the PSTN starts
first, then the engine's PBX whose trunk points at it; both stop at the end of the session. There
is no skip: an Asterisk that cannot start fails the run with the sandbox's error. A failed test
gets the end of each Asterisk's log in its report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from pbx_engine.config import EngineConfig, parse_config
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.sandbox.asterisk import AsteriskSandbox, EngineSandbox, PstnSandbox, Telephony
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.outbound.policy import SAFE_KINDS
from pbx_engine.web.api import build_app
from tests.plugins.leftovers import SHARED_ENGINE, SHARED_TELEPHONY, shared

AGENTS = {"agent-001": "agent-001-secret", "agent-002": "agent-002-secret"}


@pytest.fixture(scope="session")
def agi_port() -> int:
    return free_port("127.0.0.1")


@pytest.fixture(scope="session")
async def telephony(request: pytest.FixtureRequest, agi_port: int) -> AsyncIterator[Telephony]:
    async with Telephony.create(agi_url=f"agi://127.0.0.1:{agi_port}", agents=AGENTS) as pair:
        with shared(request, SHARED_TELEPHONY, pair):
            yield pair


@pytest.fixture(scope="session")
def pstn_asterisk(telephony: Telephony) -> PstnSandbox:
    """The phone network (dialplans/pstn.conf): numbers from PstnBehaviour, call_engine()."""
    return telephony.pstn


@pytest.fixture(scope="session")
def engine_asterisk(telephony: Telephony) -> EngineSandbox:
    """The engine's PBX: trunk `pstn`, endpoints agent-001/agent-002 (passwords in AGENTS)."""
    return telephony.engine


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    pair = getattr(item, "funcargs", {}).get("telephony")
    sandboxes: list[AsteriskSandbox] = [pair.engine, pair.pstn] if pair else []
    for name in ("engine_asterisk", "pstn_asterisk"):
        sandbox = getattr(item, "funcargs", {}).get(name)
        if isinstance(sandbox, AsteriskSandbox) and sandbox not in sandboxes:
            sandboxes.append(sandbox)
    for sandbox in sandboxes:
        if sandbox.run_dir is not None:
            report.sections.append((f"{sandbox.profile} Asterisk log (end)", sandbox.log_tail(40)))


@pytest.fixture(scope="session")
async def engine_config(
    telephony: Telephony, postgres: PostgresSandbox, agi_port: int
) -> EngineConfig:
    dsn = await postgres.create_database("engine_session")
    pbx = telephony.engine
    return parse_config(
        {
            "ari": {
                "url": pbx.ari_url,
                "username": pbx.ari_username,
                "password": pbx.ari_password,
                "reconnect_initial": 0.2,
                "reconnect_max": 1.0,
            },
            "ami": {"port": pbx.ami_port, "username": pbx.ami_username, "secret": pbx.ami_secret},
            "agi": {"port": agi_port},
            # The sandbox cluster's only role is its superuser (a throwaway cluster).
            "database": {"dsn": dsn, "allow_superuser": True},
            "dialer": {"ring_timeout": 6, "caller_id": "+12025550999"},
            "agents": {"wrap_up_seconds": 0.5, "answer_timeout": 5},
            "inbound": {"max_queue_wait": 4, "announce_every": 2, "owner_wait": 2},
            "shutdown_grace": 5,
            "web": {"mode": "development"},  # plain HTTP on loopback: no Secure cookie
            "room_dids": ["+12025551800"],
            "outbound": {
                # Every test asks from 127.0.0.1: the per-address cap is tried on a gate of its own.
                "per_address_per_hour": 1000,
                "per_agent_per_hour": 1000,
                # Campaign tests call short fictional numbers (+1 202 555 04N), invalid to
                # phonenumbers ("unknown"); premium and satellite numbers stay refused.
                "purposes": {"campaign": {"kinds": [*SAFE_KINDS, "unknown"]}},
            },
        },
        "test-config",
        environ={},
    )


@pytest.fixture(scope="session")
async def engine(request: pytest.FixtureRequest, engine_config: EngineConfig):
    async with build_engine(engine_config) as running:
        with shared(request, SHARED_ENGINE, running):
            yield running


@pytest.fixture
async def connected_engine(engine: Engine) -> Engine:
    """The shared engine, once its events websocket is up (a test may have restarted Asterisk)."""
    await engine.ari.wait_connected(timeout=30)
    await asyncio.sleep(0)
    return engine


@pytest.fixture
async def api(connected_engine: Engine) -> AsyncIterator[str]:
    """The shared engine's HTTP API on a free port: its base URL."""
    server = TestServer(build_app(connected_engine), host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url(""))
    await server.close()


@pytest.fixture
async def agent_phone(telephony: Telephony):
    """agent-001's softphone (SIPp), registered with the engine's PBX and answering calls."""
    pbx = telephony.engine
    async with SippPhone("agent-001", AGENTS["agent-001"], pbx.sip_host, pbx.sip_port) as phone:
        yield phone


@pytest.fixture
async def ready_agent(connected_engine: Engine, agent_phone: SippPhone):
    """Agent "anna" logged in on agent-001's softphone, ready; logged out afterwards."""
    agents = connected_engine.agents
    await connected_engine.storage.agents.upsert_agent(
        "anna", "Anna Nowak", sip_endpoint="agent-001"
    )
    status = await agents.login("anna")
    yield status
    if agents.status("anna") and agents.status("anna").state.value != "logged_out":
        await agents.logout("anna")
