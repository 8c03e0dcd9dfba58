"""An agent's softphone vanishes mid-call without a BYE (pulled cable, crashed app): no more
audio comes from it, Asterisk hangs its leg up after [asterisk] agent_rtp_timeout, the engine
logs the agent out rather than put the next debtor through to a dead line, and the debtor he
was talking to is told and owed a call back instead of sitting in silence. Its own PBX pair,
engine and PostgreSQL cluster.

`-s` prints what the fault cost."""

from __future__ import annotations

import time
from functools import partial

from pbx_engine.agents.states import AgentState
from pbx_engine.lab.invariants import CallWatch
from tests.integration.faults import (
    CALLBACK_NUMBER,
    EVERY_STATE,
    EVERY_STATE_FLOOR,
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

RTP_TIMEOUT = 4  # seconds; 15 by default, shortened so the test does not sit waiting


async def test_given_calls_in_every_state_when_an_agents_softphone_vanishes_then_he_is_logged_out_and_his_debtor_is_owed_a_call_back(  # noqa: E501
):
    number = partial(case_number, EVERY_STATE)
    async with own_floor(
        "softphone_vanishes", agent_rtp_timeout=RTP_TIMEOUT, **EVERY_STATE_FLOOR
    ) as floor:
        engine = floor.engine
        runner = await every_state_campaign(engine, "vanish")
        async with CallWatch(floor.telephony.engine) as watch:
            runner.start()
            await bring_every_state(floor)
            # The agent still talking to his debtor (the first case's) loses his phone.
            [agent] = [a for a in engine.agents.all() if a.state is AgentState.ON_CALL]
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
            await all_settled(engine, len(EVERY_STATE) + 1, timeout=60)
            runner.stop()
            violations = await violations_once_quiet(floor, watch)

        calls = await calls_by_number(engine)
        outcomes = {n: [r["outcome"] for r in rows] for n, rows in calls.items()}
        attempt = await engine.storage.pool.fetchrow(
            "SELECT case_id, outcome, bridged_at, ended_at FROM call_attempts"
            " WHERE channel_id = $1",
            debtor,
        )
        callbacks = await engine.storage.pool.fetch(
            "SELECT source, case_id FROM callbacks WHERE case_id = $1", attempt["case_id"]
        )
        print(
            f"\nSoftphone vanished with calls in every state: {login} logged out after "
            f"{logged_out_after:.1f} s, the debtor's line let go after "
            f"{debtor_freed_after:.1f} s (rtp_timeout {RTP_TIMEOUT} s); outcome "
            f"{attempt['outcome']}; callbacks {[dict(c) for c in callbacks]}; outcomes {outcomes}"
        )
        assert attempt["bridged_at"] is not None and attempt["ended_at"] is not None
        assert [c["source"] for c in callbacks] == ["agent_lost"]
        # The other calls went on as if nothing happened; each case dialled once.
        assert outcomes == {
            number(0): ["human"],
            number(1): ["human"],
            number(2): ["no_answer"],
            number(3): ["machine"],
            number(4): ["busy"],
            number(5): ["rejected"],
            CALLBACK_NUMBER: ["busy"],
        }
        assert violations == []
