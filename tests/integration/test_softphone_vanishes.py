"""An agent's softphone vanishes mid-call without a BYE (pulled cable, crashed app): no more
audio comes from it, Asterisk hangs its leg up after [asterisk] agent_rtp_timeout, the engine
logs the agent out rather than put the next debtor through to a dead line, and the debtor he
was talking to is told and owed a call back instead of sitting in silence. Its own PBX pair,
engine and PostgreSQL cluster.

`-s` prints what the fault cost."""

from __future__ import annotations

import time

from pbx_engine.agents.states import AgentState
from pbx_engine.lab.invariants import CallWatch
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from tests.integration.faults import (
    all_settled,
    now,
    own_floor,
    progressive_campaign,
    since,
    violations_once_quiet,
)
from tests.integration.waiting import eventually

RTP_TIMEOUT = 4  # seconds; 15 by default, shortened so the test does not sit waiting


async def test_given_an_agent_on_a_call_when_his_softphone_vanishes_then_he_is_logged_out_and_the_debtor_is_owed_a_call_back(  # noqa: E501
):
    async with own_floor("softphone_vanishes", agent_rtp_timeout=RTP_TIMEOUT) as floor:
        engine = floor.engine
        behaviours = [
            PstnBehaviour.HUMAN,
            PstnBehaviour.HUMAN,
            PstnBehaviour.BUSY,
            PstnBehaviour.NO_ANSWER,
        ]
        runner = await progressive_campaign(engine, "vanish", behaviours)
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()

            async def someone_on_a_call():
                on_call = [a for a in engine.agents.all() if a.state is AgentState.ON_CALL]
                return on_call[0] if on_call else None

            agent = await eventually(someone_on_a_call, timeout=20, what="a debtor put through")
            login, debtor = agent.login, agent.call_id
            vanished_at = time.monotonic()
            await floor.phones[login].vanish()
            await eventually(
                now(lambda: engine.agents.status(login).state is AgentState.LOGGED_OUT),
                timeout=RTP_TIMEOUT + 10,
                what=f"{login} logged out once his phone is found gone",
            )
            logged_out_after = since(vanished_at)
            await eventually(
                now(lambda: debtor not in watch.up),
                timeout=15,
                what="the debtor's line let go",
            )
            debtor_freed_after = since(vanished_at)
            await all_settled(engine, len(behaviours), timeout=60)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        attempt = await engine.storage.pool.fetchrow(
            "SELECT case_id, outcome, bridged_at, ended_at FROM call_attempts"
            " WHERE channel_id = $1",
            debtor,
        )
        callbacks = await engine.storage.pool.fetch(
            "SELECT source, case_id FROM callbacks WHERE case_id = $1", attempt["case_id"]
        )
        print(
            f"\nSoftphone vanished: {login} logged out after {logged_out_after:.1f} s, the "
            f"debtor's line let go after {debtor_freed_after:.1f} s (rtp_timeout "
            f"{RTP_TIMEOUT} s); outcome {attempt['outcome']}; callbacks "
            f"{[dict(c) for c in callbacks]}"
        )
        assert attempt["bridged_at"] is not None and attempt["ended_at"] is not None
        assert [c["source"] for c in callbacks] == ["agent_lost"]
        assert violations == []
