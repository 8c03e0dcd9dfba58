"""The path to ARI goes half-open mid-call (a NAT or firewall forgets the flow: packets dropped,
no FIN, no reset): the engine declares its silent events websocket dead within `[ari]
dead_after`, a REST request through the dead path fails within `request_timeout` instead of
hanging, and once the path is back it reconnects and settles the call that ended unseen. Its
own PBX pair, engine and PostgreSQL cluster, the engine reaching ARI through a TCP proxy.

`-s` prints what the fault cost."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from pbx_engine.agents.states import AgentState
from pbx_engine.amd.live import HELPER_PREFIX
from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriUnavailable
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import AriConfig
from pbx_engine.lab.invariants import CallWatch
from pbx_engine.lab.sandbox.asterisk import AsteriskSandbox, PstnBehaviour
from tests.integration.faults import (
    CALLBACK_NUMBER,
    EVERY_STATE,
    EVERY_STATE_FLOOR,
    add_cases,
    all_settled,
    bring_every_state,
    calls_by_number,
    case_number,
    every_state_campaign,
    now,
    own_floor,
    since,
    violations_once_quiet,
)
from tests.integration.waiting import eventually

# Slack for a loaded 2-core machine on top of a configured bound.
SLACK = 1.5


async def _bridged_call(engine) -> str:
    async def bridged():
        return await engine.storage.pool.fetchval(
            "SELECT channel_id FROM call_attempts WHERE bridged_at IS NOT NULL"
        )

    return await eventually(bridged, timeout=20, what="the debtor bridged to an agent")


async def _rest_failure_after(engine) -> float:
    """Seconds a REST request through the dead path takes to fail."""
    started = time.monotonic()
    try:
        await engine.ari.list_channels()
    except AriUnavailable:
        return since(started)
    raise AssertionError("a REST request went through a blackholed path")


async def test_given_a_call_up_when_the_path_to_ari_goes_half_open_then_the_engine_notices_reconnects_and_settles_it(  # noqa: E501
):
    async with own_floor("ari_half_open", ari_proxied=True) as floor:
        engine, proxy = floor.engine, floor.ari_proxy
        assert proxy is not None
        settings = engine.config.ari
        campaign = CampaignConfig(
            name="halfopen", dial_mode="progressive", compliance="plain", max_lines=1
        )
        runner = await engine.add_campaign(campaign)
        await add_cases(engine, runner.campaign_id, [PstnBehaviour.TALK])
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            call = await _bridged_call(engine)
            runner.stop()
            reconnects = engine.ari.reconnects
            proxy.blackhole()
            blackholed_at = time.monotonic()
            rest = asyncio.create_task(_rest_failure_after(engine))
            # The debtor hangs up while nothing reaches the engine: it never hears of it.
            for channel in await floor.telephony.pstn.channels():
                await floor.telephony.pstn.hangup(channel["id"])
            await eventually(
                now(lambda: not engine.ari.connected.is_set()),
                timeout=settings.dead_after + 10,
                interval=0.05,
                what="the silent events websocket declared dead",
            )
            noticed = since(blackholed_at)
            rest_failed = await rest
            assert engine.dialer.active_calls == 1  # the call's end went unseen so far
            proxy.restore()
            restored_at = time.monotonic()
            await eventually(
                now(lambda: engine.ari.reconnects > reconnects and engine.ari.connected.is_set()),
                timeout=20,
                interval=0.05,
                what="the events websocket to reconnect",
            )
            reconnected = since(restored_at)
            await all_settled(engine, 1, timeout=15)
            settled = since(restored_at)

            async def agents_ready():
                return all(a.state is AgentState.READY for a in engine.agents.all())

            await eventually(agents_ready, timeout=10, what="both agents ready again")
            violations = await violations_once_quiet(floor, watch)

        row = await engine.storage.pool.fetchrow(
            "SELECT outcome, hangup_cause_text FROM call_attempts WHERE channel_id = $1", call
        )
        print(
            f"\nARI half-open (dead_after {settings.dead_after:g} s, heartbeat "
            f"{settings.heartbeat:g} s, request_timeout {settings.request_timeout:g} s): "
            f"noticed {noticed:.2f} s after the blackhole; a REST request failed after "
            f"{rest_failed:.2f} s; path down for {restored_at - blackholed_at:.1f} s; "
            f"reconnected {reconnected:.2f} s and the call settled {settled:.2f} s after the "
            f"path came back, as {tuple(row)}"
        )
        assert noticed <= settings.dead_after + SLACK
        assert rest_failed <= settings.request_timeout + SLACK
        assert row["outcome"] == "human"
        assert violations == []


async def test_given_a_quiet_but_healthy_link_when_pings_are_answered_then_it_stays_up():
    # Asterisk answers the reader's pings: silence between events is no reason to reconnect.
    async with AsteriskSandbox("engine") as pbx:
        config = AriConfig(
            url=pbx.ari_url,
            username=pbx.ari_username,
            password=pbx.ari_password,
            heartbeat=0.3,
            dead_after=0.6,
        )
        async with AriClient(config) as ari:
            await ari.wait_connected(timeout=10)
            # Five pongs span five pings: well past dead_after of silence between events.
            await eventually(now(lambda: ari.pongs >= 5), timeout=10, what="five pongs")
            assert ari.reconnects == 0
            assert ari.connected.is_set()


async def test_given_calls_in_every_state_when_the_path_to_ari_goes_half_open_then_each_is_settled_once_and_the_callback_made_once(  # noqa: E501
):
    """Events lost while the path is dead: the AMD verdict coming back to Stasis, the ringing
    line's end, maybe the bridged debtor's; the callback falls due meanwhile."""
    number = partial(case_number, EVERY_STATE)
    async with own_floor("ari_half_open_states", ari_proxied=True, **EVERY_STATE_FLOOR) as floor:
        engine, proxy = floor.engine, floor.ari_proxy
        assert proxy is not None
        runner = await every_state_campaign(engine, "halfopen")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            states = await bring_every_state(floor)

            async def machine_heard():
                # Its listener in place: one whose set-up the dead path cuts short is another
                # fault (it hears nothing: NOTSURE, put through as a person).
                bridges = await floor.telephony.engine.bridges()
                return any(
                    b["id"].startswith(HELPER_PREFIX) and len(b["channels"]) == 2 for b in bridges
                )

            await eventually(machine_heard, timeout=10, what="the machine's listener in place")
            reconnects = engine.ari.reconnects
            proxy.blackhole()
            blackholed_at = time.monotonic()
            await eventually(
                now(lambda: not engine.ari.connected.is_set()),
                timeout=engine.config.ari.dead_after + 10,
                interval=0.05,
                what="the silent events websocket declared dead",
            )
            noticed = since(blackholed_at)
            proxy.restore()
            restored_at = time.monotonic()
            await eventually(
                now(lambda: engine.ari.reconnects > reconnects and engine.ari.connected.is_set()),
                timeout=20,
                interval=0.05,
                what="the events websocket to reconnect",
            )
            reconnected = since(restored_at)
            await all_settled(engine, len(EVERY_STATE) + 1, timeout=60)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        calls = await calls_by_number(engine)
        # A call dialled in the blackhole, before it was noticed (the callback falling due): its
        # create never got an answer, so nothing rang; it is on record as not placed and made
        # once the path is back.
        unplaced = [r for rows in calls.values() for r in rows if r["outcome"] == "not_placed"]
        outcomes = {
            n: [r["outcome"] for r in rows if r["outcome"] != "not_placed"]
            for n, rows in calls.items()
        }
        print(
            f"\nARI half-open with {len(states.up)} calls up (bridged, under AMD, ringing), an "
            f"agent in wrap-up and a callback falling due: noticed {noticed:.2f} s after the "
            f"blackhole; reconnected {reconnected:.2f} s after the path came back; outcomes "
            f"{outcomes}; not placed {len(unplaced)}"
        )
        assert sorted(outcomes) == sorted([*(number(i) for i in range(6)), CALLBACK_NUMBER])
        assert all(len(made) == 1 for made in outcomes.values()), outcomes
        assert outcomes[number(0)] == ["human"] and outcomes[number(1)] == ["human"]
        # Its end went unheard: it had rung past its ring timeout, so nobody answered.
        assert outcomes[number(2)] == ["no_answer"] and outcomes[number(3)] == ["machine"]
        assert (outcomes[number(4)], outcomes[number(5)]) == (["busy"], ["rejected"])
        assert outcomes[CALLBACK_NUMBER] == ["busy"]
        assert all(r["ringing_at"] is None for r in unplaced)
        assert all(r["hangup_cause_text"].startswith("not placed") for r in unplaced)
        assert violations == []
        assert await floor.telephony.pstn.channels() == []
