"""The engine falls behind its events mid-campaign: its event loop stalls (a long garbage
collection, a starved CPU, a blocking call that slipped in) while calls ring, answer and end.
Asterisk's events wait in the websocket; once the loop runs again they are handled in the
order they were sent, every call settles as it should, and the stall shows in the event-lag
series ops watch. Its own PBX pair, engine and PostgreSQL cluster.

`-s` prints what the stalls cost."""

from __future__ import annotations

import time
from typing import Any

from pbx_engine.ari.client import AriClient
from pbx_engine.lab.invariants import CallWatch
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.faults import (
    all_settled,
    own_floor,
    progressive_campaign,
    violations_once_quiet,
)

STALLS = 3
STALL_SECONDS = 2.0
LAG = "pbx_engine_ari_event_lag_seconds"


def stall_after_first_dials(ari: AriClient, stalls: int, seconds: float) -> None:
    """Block the loop outright, as a slow consumer of events does, right after each of the
    first `stalls` dials: Asterisk sends that call's Dial and Ringing events within
    milliseconds, so each stall is sure to leave events waiting in the websocket."""
    dial = ari.dial
    dials = 0

    async def dial_then_stall(channel_id: str, **options: Any) -> None:
        nonlocal dials
        await dial(channel_id, **options)
        dials += 1
        if dials <= stalls:
            time.sleep(seconds)  # noqa: ASYNC251 - the fault this test injects

    ari.dial = dial_then_stall  # type: ignore[method-assign]


# The stalls fall on the first three dials, which are lines that ring, are busy or refuse: an
# engine stalled while a person says "Hello?" has its AMD listener set up too late to hear it
# (a different fault, with its own outcome). The person and the machine are dialled after.
BEHAVIOURS = [
    PstnBehaviour.NO_ANSWER,
    PstnBehaviour.BUSY,
    PstnBehaviour.REJECT,
    PstnBehaviour.BUSY,
    PstnBehaviour.HUMAN,
    PstnBehaviour.MACHINE,
]


async def test_given_the_engine_stalls_mid_campaign_then_it_catches_up_on_its_events_in_order_and_loses_none(  # noqa: E501
):
    async with own_floor("slow_consumer") as floor:
        engine = floor.engine
        runner = await progressive_campaign(engine, "slow", BEHAVIOURS)
        registry = engine.metrics.registry
        async with CallWatch(floor.telephony.engine) as watch:
            stall_after_first_dials(engine.ari, stalls=STALLS, seconds=STALL_SECONDS)
            runner.start()
            reconnects = engine.ari.reconnects
            await all_settled(engine, len(BEHAVIOURS), timeout=60)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        events = registry.get_sample_value(f"{LAG}_count")
        late = events - registry.get_sample_value(f"{LAG}_bucket", {"le": "1.0"})
        rows = await engine.storage.pool.fetch("SELECT outcome FROM call_attempts")
        print(
            f"\n{STALLS} stalls of {STALL_SECONDS:.0f} s: {events:.0f} events handled, "
            f"{late:.0f} of them over 1 s late; websocket reconnects {engine.ari.reconnects}; "
            f"outcomes {sorted(r['outcome'] for r in rows)}"
        )
        assert sorted(r["outcome"] for r in rows) == sorted(
            ["human", "no_answer", "busy", "machine", "rejected", "busy"]
        )
        assert late > 0  # the stalls are there for ops to see
        assert reconnects == 0  # Asterisk kept the websocket: nothing was lost to catch up on
        assert violations == []
