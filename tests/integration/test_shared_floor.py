"""Two engines on one database and one PBX sharing the floor: engine-a dials a predictive
campaign with no agent of its own logged in, and engine-b, which stands by, has olga ready.
engine-a's pacing counts olga, dials, and hands each person who answers to engine-b, which
puts him through to her; engine-b writes the call's end. And a channel that arrives as handed
with nothing on record is hung up. `-s` prints the times."""

from __future__ import annotations

import time
import uuid

import asyncpg

from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.engines import placed, two_engines
from tests.waiting import eventually

TALKERS = [PstnBehaviour.TALK.number(f"+1202555{460 + i:03d}") for i in range(2)]


async def _with_olga(pool: asyncpg.Pool, number: str) -> asyncpg.Record | None:
    """The call to `number` once it is on record with olga."""
    return await pool.fetchrow(
        "SELECT c.channel_id, c.placed_by, c.lease_token, c.answered_at, c.amd_decided_at, "
        "c.bridged_at FROM call_attempts c JOIN agents a ON a.id = c.agent_id "
        "WHERE a.login = 'olga' AND c.dialled = $1 AND c.bridged_at IS NOT NULL",
        number,
    )


async def test_a_campaign_dialled_by_one_engine_is_put_through_to_another_engines_agent(
    tmp_path,
):
    async with two_engines(
        tmp_path,
        TALKERS,
        campaign="shared",
        ring_timeout=20,
        max_lines=1,
        campaign_settings={
            "dial_mode": "predictive",
            "pacing": {"policy": "ratio", "dial_ratio": 1.0},
        },
        engine_settings={"agents": {"wrap_up_seconds": 1}},
        agents_of_a=False,
    ) as floor:
        pool, pbx = floor.pool, floor.telephony.engine
        started = time.monotonic()
        times = []
        for number in TALKERS:
            call = await eventually(
                lambda number=number: _with_olga(pool, number),
                timeout=40,
                what=f"{number} put through to olga",
            )
            times.append(time.monotonic() - started)
            # Placed under engine-a's lease (engine-b stands by), the call is engine-b's now.
            assert call["lease_token"] is not None
            assert call["placed_by"] == "engine-b"
            dead_air = (call["bridged_at"] - call["amd_decided_at"]).total_seconds()
            # On the PBX: the person is in olga's bridge, with her phone's leg.
            bridges = await pbx.bridges()
            olgas = next(b for b in bridges if b.get("name") == "agent olga")
            assert call["channel_id"] in olgas["channels"], olgas
            assert any(c.startswith("agent-olga-") for c in olgas["channels"]), olgas
            # Nobody else is dialled while olga talks: she is the whole floor.
            assert len(await placed(pool)) == len(times)
            assert await pbx.hangup(call["channel_id"])
            print(f"\n{number}: with olga {times[-1]:.1f} s in, {dead_air * 1000:.0f} ms after AMD")
        status, body = await floor.apis["engine-a"].post("/campaigns/shared/stop", floor.admin)
        assert status == 200, body
        rows = await floor.settled()
        assert [(r["dialled"], r["outcome"], r["placed_by"]) for r in rows] == [
            (number, "human", "engine-b") for number in TALKERS
        ]
        log_a = floor.logs["engine-a"].read_text()
        assert log_a.count('"event": "call.handed"') == len(TALKERS)
        assert '"event": "call.finished"' not in log_a  # each call's end is engine-b's

        async def olga_ready() -> bool:
            state = await pool.fetchval(
                "SELECT s.state FROM agent_state_changes s JOIN agents a ON a.id = s.agent_id "
                "WHERE a.login = 'olga' ORDER BY s.id DESC LIMIT 1"
            )
            return state == "ready"

        await eventually(olga_ready, timeout=10, what="olga ready after her wrap-up")


async def test_a_channel_arriving_as_handed_that_no_engine_handed_is_hung_up(
    connected_engine: Engine, agent_phone, telephony
):
    """Only an ARI user can move a channel into an app with arguments, but the arguments
    alone are not believed: a "handed" channel that is not an open call on record as this
    engine's is hung up, and nothing is put on record."""
    ari, pbx = connected_engine.ari, telephony.engine
    channel_id = f"stray-{uuid.uuid4()}"
    await ari.create_channel(
        "PJSIP/agent-001", app=ari.app, channel_id=channel_id, app_args=["handed", "0"]
    )

    async def gone() -> bool:
        return not await pbx.has_channel(channel_id)

    await eventually(gone, timeout=10, what="the stray channel hung up")
    assert await connected_engine.storage.attempts.get_attempt(channel_id) is None
