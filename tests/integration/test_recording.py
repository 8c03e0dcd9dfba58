"""Call recording on the real PBX: files named after their attempt, as long as the call less
its pauses, one file or one per leg, deleted when their retention is over."""

import asyncio
import io
import wave
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from pbx_engine.agents.states import AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.service import CallRequest, PlacedCall
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.recording import RecordingMode, RecordingPolicy
from tests.waiting import eventually


def seconds_of(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav)) as audio:
        return audio.getnframes() / audio.getframerate()


async def recorded_call(engine: Engine, mode: RecordingMode) -> tuple[PlacedCall, str]:
    """A debtor put through to anna with the call recorded; returns once recording runs."""
    await engine.agents.reserve()
    call = engine.dialer.place_call(
        CallRequest(
            number=PstnBehaviour.TALK.number(),
            agent="anna",
            recording=RecordingPolicy(mode, retention_days=30),
        )
    )
    channel_id = call.channel_id
    expected = 2 if mode is RecordingMode.SEPARATE else 1

    async def recording():
        return len(engine.recorder.recording(channel_id)) == expected

    await eventually(recording, timeout=20, what="the call to be recorded")
    return call, channel_id


async def test_given_a_mixed_recording_when_the_agent_pauses_it_then_the_file_leaves_out_the_pause(
    connected_engine: Engine, ready_agent: AgentStatus, api: str
):
    engine = connected_engine
    call, channel_id = await recorded_call(engine, RecordingMode.MIXED)
    token = await engine.storage.issue_agent_token("anna")
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        await asyncio.sleep(2)  # 2 s recorded
        async with http.post(f"{api}/calls/{channel_id}/recording/pause") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["paused"] is True
        async with http.post(f"{api}/calls/{channel_id}/recording/pause") as response:
            assert response.status == 409  # paused already
        await asyncio.sleep(2)  # 2 s paused: left out of the file
        async with http.post(f"{api}/calls/{channel_id}/recording/resume") as response:
            assert response.status == 200
        await asyncio.sleep(2)  # 2 s more recorded
        await engine.ari.hangup(channel_id)
        await asyncio.wait_for(call.task, timeout=10)

        attempt = await engine.storage.attempts.get_attempt(channel_id)

        async def finished():
            rows = await engine.storage.recordings.recordings_of_attempt(attempt.id)
            return rows if rows and rows[0].ended_at else None

        [row] = await eventually(finished, timeout=10, what="the recording to end")
        assert row.name == f"attempt-{attempt.id}" and row.leg == "mixed"
        [pause] = await engine.storage.recordings.recording_pauses(attempt.id)
        assert pause.resumed_at is not None

        async with http.get(f"{api}/recordings/{row.name}") as response:
            assert response.status == 200
            audio = await response.read()
        async with http.get(f"{api}/attempts/{channel_id}/recordings") as response:
            assert [r["name"] for r in (await response.json())["recordings"]] == [row.name]

    paused = (pause.resumed_at - pause.paused_at).total_seconds()
    recorded = (row.ended_at - row.started_at).total_seconds() - paused
    assert 3.0 < recorded < 6.0
    assert seconds_of(audio) == pytest.approx(recorded, abs=0.6)


async def test_given_separate_legs_when_the_call_ends_then_two_files_of_the_calls_length(
    connected_engine: Engine, ready_agent: AgentStatus
):
    engine = connected_engine
    call, channel_id = await recorded_call(engine, RecordingMode.SEPARATE)
    await asyncio.sleep(3)  # the call lasts 3 s: so must both files
    await engine.ari.hangup(channel_id)
    await asyncio.wait_for(call.task, timeout=10)
    attempt = await engine.storage.attempts.get_attempt(channel_id)

    async def finished():
        rows = await engine.storage.recordings.recordings_of_attempt(attempt.id)
        return rows if len(rows) == 2 and all(r.ended_at for r in rows) else None

    rows = await eventually(finished, timeout=10, what="both recordings to end")
    assert {r.name for r in rows} == {
        f"attempt-{attempt.id}-debtor",
        f"attempt-{attempt.id}-agent",
    }
    lengths = [seconds_of(await engine.ari.get_stored_recording_file(r.name)) for r in rows]
    assert all(2.5 < length < 5 for length in lengths)
    assert abs(lengths[0] - lengths[1]) < 0.5

    # After the retention period the purge deletes the files from Asterisk, and says so.
    later = datetime.now(UTC) + timedelta(days=31)
    purged = await engine.recorder.purge_expired(later)
    assert {r.name for r in rows} <= set(purged)
    for r in rows:
        assert await engine.ari.get_stored_recording(r.name) is None
    rows = await engine.storage.recordings.recordings_of_attempt(attempt.id)
    assert all(r.deleted_at for r in rows)


async def test_given_an_inbound_caller_when_an_agent_takes_him_then_his_campaigns_policy_records(
    connected_engine: Engine, ready_agent: AgentStatus, telephony
):
    """A caller whose case belongs to a running campaign that records: recorded likewise."""
    engine = connected_engine
    caller = "+13125550377"
    runner = await engine.add_campaign(
        CampaignConfig(name="recorded-inbound", recording={"mode": "mixed", "retention_days": 7})
    )
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme",
        reference="REC-IN-1",
        debtor_name="Rec In",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[(caller, "mobile")],
        campaign_id=runner.campaign_id,
    )
    pstn_leg = await telephony.pstn.call_engine("+12025551000", caller, manner="talk")

    async def recorded():
        attempt = await engine.storage.pool.fetchrow(
            "SELECT id, channel_id FROM call_attempts WHERE caller_id = $1 ORDER BY id DESC",
            caller,
        )
        if attempt is None:
            return None
        rows = await engine.storage.recordings.recordings_of_attempt(attempt["id"])
        return (attempt, rows) if rows else None

    attempt, [row] = await eventually(recorded, timeout=20, what="the inbound call recorded")
    assert (row.name, row.leg) == (f"attempt-{attempt['id']}", "mixed")
    assert row.delete_after - row.started_at == timedelta(days=7)
    assert (await engine.storage.attempts.get_attempt(attempt["channel_id"])).case_id == case_id
    await telephony.pstn.hangup(pstn_leg)
