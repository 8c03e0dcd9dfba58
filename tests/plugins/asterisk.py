"""Telephony fixtures: the engine's Asterisk and the PSTN Asterisk, started once per session,
and an engine connected to them (with its own database) that tests share."""

from __future__ import annotations

import asyncio

import pytest

from pbx_engine.config import EngineConfig, parse_config
from pbx_engine.engine import Engine, build_engine
from pbx_engine.sandbox.asterisk import Telephony
from pbx_engine.sandbox.ports import free_port
from pbx_engine.sandbox.postgres import PostgresSandbox
from pbx_engine.sandbox.sipp import SippPhone

AGENTS = {"agent-001": "agent-001-secret", "agent-002": "agent-002-secret"}


@pytest.fixture(scope="session")
def agi_port() -> int:
    return free_port("127.0.0.1")


@pytest.fixture(scope="session")
async def telephony(agi_port: int):
    # No skip: an Asterisk that cannot start fails the run.
    async with Telephony.create(agi_url=f"agi://127.0.0.1:{agi_port}", agents=AGENTS) as pair:
        yield pair


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
            "database": {"dsn": dsn},
            "dialer": {"ring_timeout": 6, "caller_id": "+12025550999"},
            "agents": {"wrap_up_seconds": 0.5, "answer_timeout": 5},
            "shutdown_grace": 5,
        },
        "test-config",
        environ={},
    )


@pytest.fixture(scope="session")
async def engine(engine_config: EngineConfig):
    async with build_engine(engine_config) as running:
        yield running


@pytest.fixture
async def connected_engine(engine: Engine) -> Engine:
    """The shared engine, once its events websocket is up (a test may have restarted Asterisk)."""
    await engine.ari.wait_connected(timeout=30)
    await asyncio.sleep(0)
    return engine


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
    await connected_engine.storage.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001")
    status = await agents.login("anna")
    yield status
    if agents.status("anna") and agents.status("anna").state.value != "logged_out":
        await agents.logout("anna")
