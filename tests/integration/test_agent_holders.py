"""One engine holds an agent at a time (real PostgreSQL; the login on the real PBX): a login on
another engine is refused while the holder runs, and allowed once it stopped or was taken over."""

from __future__ import annotations

import asyncio

import pytest

from pbx_engine.agents.service import AgentError
from pbx_engine.agents.states import AgentState
from pbx_engine.engine import Engine
from pbx_engine.storage import Storage
from pbx_engine.storage.engine_runs import EngineRun

A = EngineRun("engine-a", "app-a", "aaaa0001")
B = EngineRun("engine-b", "app-b", "bbbb0001")


async def agent(storage: Storage, login: str) -> int:
    await storage.agents.upsert_agent(login, login.title())
    row = await storage.agents.get_agent(login)
    assert row is not None
    return row.id


async def test_an_agent_is_held_by_one_running_engine_at_a_time(storage: Storage):
    holders = storage.agent_holders
    await storage.engine_runs.enter(A)
    await storage.engine_runs.enter(B)
    anna, olga, ivan = [await agent(storage, login) for login in ("anna", "olga", "ivan")]
    assert await holders.hold(anna, "engine-a") is None
    assert await holders.hold(anna, "engine-b") == "engine-a"  # engine-a runs: refused
    assert await holders.hold(anna, "engine-a") is None  # its own, again
    # Two engines asking at once for one agent: one holds him.
    engines = ("engine-a", "engine-b")
    refusals = await asyncio.gather(*(holders.hold(olga, e) for e in engines))
    holder = await holders.holder_of(olga)
    assert set(refusals) == {None, holder} and engines[refusals.index(None)] == holder
    # engine-a taken over by engine-b: its agents may be held by engine-b.
    assert await storage.engine_runs.claim("engine-a", A.life, "engine-b") == "app-a"
    assert await holders.hold(anna, "engine-b") is None
    await holders.let_go(anna, "engine-a")  # not engine-a's any more: nothing happens
    assert await holders.holder_of(anna) == "engine-b"
    await holders.let_go(anna, "engine-b")
    assert await holders.holder_of(anna) is None
    # An engine that stopped cleanly (off the record) holds nobody back.
    assert await holders.hold(ivan, "engine-b") is None
    await storage.engine_runs.leave(B)
    assert await holders.hold(ivan, "engine-c") is None
    # A restart keeps the holds of the agents it adopted and lets go of the rest.
    assert await holders.hold(anna, "engine-c") is None
    assert await holders.keep_only("engine-c", [ivan]) == 1
    assert (await holders.holder_of(ivan), await holders.holder_of(anna)) == ("engine-c", None)


async def test_a_login_is_refused_while_another_engine_holds_the_agent(
    connected_engine: Engine, agent_phone
):
    engine = connected_engine
    storage, agents = engine.storage, engine.agents
    await storage.agents.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001")
    anna = (await storage.agents.get_agent("anna")).id
    elsewhere = EngineRun("engine-elsewhere", "app-elsewhere", "e1e1e1e1")
    await storage.engine_runs.enter(elsewhere)
    try:
        assert await storage.agent_holders.hold(anna, "engine-elsewhere") is None
        with pytest.raises(AgentError, match="logged in on engine 'engine-elsewhere'"):
            await agents.login("anna")
        assert agents.status("anna") is None or agents.status("anna").state.value == "logged_out"
        await storage.engine_runs.leave(elsewhere)  # it stopped: anna may log in here
        status = await agents.login("anna")
        assert status.state is AgentState.READY
        assert await storage.agent_holders.holder_of(anna) == storage.engine
        await agents.logout("anna")
        assert await storage.agent_holders.holder_of(anna) is None
    finally:
        await storage.engine_runs.leave(elsewhere)
        await storage.pool.execute("DELETE FROM agent_holders WHERE engine = 'engine-elsewhere'")
        if agents.status("anna") and agents.status("anna").state is not AgentState.LOGGED_OUT:
            await agents.logout("anna")
