"""The engine places real calls through its Asterisk to the PSTN sandbox, which answers with real
audio; the default detector (the engine's own listener) or app_amd in the dialplan judges it;
every attempt ends up as a row in PostgreSQL."""

import asyncio
from pathlib import Path

from ari_apps.outcomes import Outcome
from pbx_engine.amd.detectors import DETECTORS
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import FAX_NUMBER, PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.audio import message_offset, speech_onset
from tests.waiting import eventually, now

ENGINE_AMD, APP_AMD = DETECTORS["engine"], DETECTORS["app_amd"]


async def test_given_a_person_answers_and_no_agent_is_free_then_amd_says_human_and_it_is_abandoned(
    connected_engine: Engine,
):
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.HUMAN.number()))

    assert result.amd_status == "HUMAN"
    assert result.outcome is Outcome.ABANDONED
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt is not None
    assert attempt.outcome == "abandoned"
    assert attempt.abandoned
    assert attempt.bridged_at is None
    assert attempt.dialled == "+12025550100"
    assert attempt.caller_id == "+12025550999"
    assert attempt.created_at <= attempt.originated_at <= attempt.answered_at
    assert attempt.answered_at <= attempt.amd_decided_at <= attempt.ended_at
    assert attempt.hangup_cause == 16


async def test_given_voicemail_answers_when_called_then_amd_says_machine(connected_engine: Engine):
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.MACHINE.number()))

    assert result.outcome is Outcome.MACHINE
    assert result.amd_status == "MACHINE"
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.outcome == "machine"
    assert attempt.amd_cause


async def test_given_a_busy_line_when_called_then_the_outcome_is_busy_with_cause_17(
    connected_engine: Engine,
):
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.BUSY.number()))

    assert result.outcome is Outcome.BUSY
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.hangup_cause == 17
    assert attempt.answered_at is None
    assert attempt.amd_status is None


async def test_given_nobody_answers_when_the_ring_timeout_passes_then_the_outcome_is_no_answer(
    connected_engine: Engine,
):
    result = await connected_engine.dialer.call(
        CallRequest(number=PstnBehaviour.NO_ANSWER.number())
    )

    assert result.outcome is Outcome.NO_ANSWER
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.ringing_at is not None
    assert attempt.answered_at is None
    ring_seconds = (attempt.ended_at - attempt.originated_at).total_seconds()
    assert 5 <= ring_seconds < 12  # the configured ring timeout is 6 s


async def test_given_the_network_rejects_or_the_number_is_unallocated_then_each_has_its_outcome(
    connected_engine: Engine,
):
    rejected, unallocated = await asyncio.gather(
        connected_engine.dialer.call(CallRequest(number=PstnBehaviour.REJECT.number())),
        connected_engine.dialer.call(CallRequest(number=PstnBehaviour.UNALLOCATED.number())),
    )

    assert rejected.outcome is Outcome.REJECTED
    assert rejected.hangup_cause == 21
    assert unallocated.outcome is Outcome.FAILED
    assert unallocated.hangup_cause == 1
    # The network said the number does not exist: it is on the dead-number list, with the call.
    dead = await connected_engine.storage.pool.fetchrow(
        "SELECT d.reason, a.channel_id FROM dead_numbers d JOIN call_attempts a "
        "ON a.id = d.attempt_id WHERE d.e164 = $1",
        PstnBehaviour.UNALLOCATED.number(),
    )
    assert dead is not None
    assert tuple(dead) == (
        "the network says: unallocated number (cause 1)",
        unallocated.channel_id,
    )
    assert (
        await connected_engine.storage.pool.fetchval(
            "SELECT count(*) FROM dead_numbers WHERE e164 = $1", PstnBehaviour.REJECT.number()
        )
        == 0
    )


async def test_given_calls_in_parallel_when_they_end_then_each_keeps_its_own_outcome(
    connected_engine: Engine,
):
    behaviours = [PstnBehaviour.HUMAN, PstnBehaviour.MACHINE, PstnBehaviour.BUSY] * 2
    results = await asyncio.gather(
        *(connected_engine.dialer.call(CallRequest(number=b.number())) for b in behaviours)
    )

    expected = {
        PstnBehaviour.HUMAN: Outcome.ABANDONED,
        PstnBehaviour.MACHINE: Outcome.MACHINE,
        PstnBehaviour.BUSY: Outcome.BUSY,
    }
    assert [r.outcome for r in results] == [expected[b] for b in behaviours]
    assert len({r.channel_id for r in results}) == len(results)


async def test_given_asterisk_crashes_mid_call_when_it_is_back_then_the_engine_reconnects_and_dials(
    connected_engine: Engine,
    telephony: Telephony,
):
    engine = connected_engine
    ringing = engine.dialer.place_call(CallRequest(number=PstnBehaviour.NO_ANSWER.number()))

    async def is_ringing():
        attempt = await engine.storage.attempts.get_attempt(ringing.channel_id)
        return attempt is not None and attempt.ringing_at is not None

    reconnects = engine.ari.reconnects
    await eventually(is_ringing, timeout=10, what="the call to ring")
    await telephony.engine.restart(crash=True)
    await eventually(
        now(lambda: engine.ari.reconnects > reconnects),
        timeout=20,
        what="the events websocket to reconnect",
    )
    await engine.ari.wait_connected(timeout=20)

    # The crash took the call down with no ChannelDestroyed; the reconcile after the reconnect
    # settles it without waiting for the ring timeout.
    lost = await asyncio.wait_for(ringing.task, timeout=10)
    assert lost.outcome is Outcome.FAILED
    assert lost.hangup_cause_text == "channel lost"
    attempt = await engine.storage.attempts.get_attempt(lost.channel_id)
    assert attempt.ended_at is not None
    assert attempt.outcome == "failed"
    # The phone network never heard the crash (no BYE came): its side would ring on, as a real
    # carrier's does until its own timer; this test hangs it up.
    for channel in await telephony.pstn.channels():
        await telephony.pstn.hangup(channel["id"])

    after = await engine.dialer.call(CallRequest(number=PstnBehaviour.TALK.number()))
    assert after.amd_status == "HUMAN"
    readiness = await engine.readiness()
    assert readiness.problems == {"ari": None, "database": None, "ami": None, "recording": None}


async def test_given_a_line_answers_in_silence_then_the_outcome_is_silence(
    connected_engine: Engine,
):
    result = await connected_engine.dialer.call(CallRequest(number=PstnBehaviour.SILENT.number()))

    assert result.outcome is Outcome.SILENCE
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.outcome == "silence"
    assert attempt.amd_cause.startswith("INITIALSILENCE")


async def _message_after_the_beep(
    engine: Engine, telephony: Telephony, number: str, detector: str
) -> float:
    """Leave a message on the sandbox voicemail with a beep, which records from the end of its
    beep; the message must be on the recording from its first words (not cut by speaking over
    the greeting), soon after the beep. Returns how long after the beep's end it started."""
    message = str(telephony.engine.sounds_dir / "human-talk")  # about 6 s of speech
    request = CallRequest(number=number, machine_message=message, amd_detector=DETECTORS[detector])
    result = await engine.dialer.call(request)

    assert (result.outcome, result.amd_status) == (Outcome.MACHINE, "MACHINE")
    attempt = await engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.amd_decided_at < attempt.message_started_at < attempt.message_ended_at
    played = (attempt.message_ended_at - attempt.message_started_at).total_seconds()
    assert played > 4

    [recording] = telephony.pstn.recordings_dir.glob(f"machine-{number}-*.wav")
    onset, loud = speech_onset(recording)
    assert onset is not None and onset < 2.0  # the message starts within 2 s of the beep
    assert loud > 3.0  # and the box heard most of it
    # Where the message's start lies on the recording, found by matching it with the sound
    # played: below 0, the box began recording after the message had begun (a cut start).
    offset = message_offset(recording, Path(f"{message}.wav"))
    assert offset >= -0.02  # at most a frame
    # The box names the file with the moment its beep ended (the two Asterisks share a clock).
    beep_ended = float(recording.stem.rsplit("-", 1)[1])
    after_beep = attempt.message_started_at.timestamp() - beep_ended
    print(
        f"{detector}: message started {after_beep:.3f} s after the beep's end; "
        f"on the recording from {offset:.3f} s (first sound at {onset:.2f} s)"
    )
    return after_beep


async def test_given_a_campaign_leaves_messages_then_the_machine_records_it_after_the_beep(
    connected_engine: Engine, telephony: Telephony
):
    """The engine detector listens on after its MACHINE verdict; its beep listener hears the
    beep end, and the engine plays the message through ARI at once."""
    number = PstnBehaviour.MACHINE.number("+1202555061")
    after_beep = await _message_after_the_beep(connected_engine, telephony, number, "engine")
    assert after_beep < 0.5  # sooner than the dialplan's 0.8 s of silence can be
    await _no_amd_helpers_left(connected_engine)


async def test_given_voicemail_without_a_beep_when_the_engine_leaves_a_message_then_it_is_left(
    connected_engine: Engine, telephony: Telephony
):
    number = PstnBehaviour.MACHINE_NO_BEEP.number("+1202555063")
    message = str(telephony.engine.sounds_dir / "human-talk")
    request = CallRequest(number=number, machine_message=message, amd_detector=ENGINE_AMD)
    result = await connected_engine.dialer.call(request)

    assert result.outcome is Outcome.MACHINE
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.amd_decided_at < attempt.message_started_at < attempt.message_ended_at
    assert (attempt.message_ended_at - attempt.message_started_at).total_seconds() > 4
    await _no_amd_helpers_left(connected_engine)


async def test_given_the_line_hangs_up_mid_greeting_then_no_message_is_played_or_on_record(
    connected_engine: Engine, telephony: Telephony
):
    """The engine listens on after its MACHINE verdict, waiting for the beep; the line goes
    before it (the sandbox's greeting runs about 14 s): nothing is played, no message is on
    record, and the listener's channels are gone."""
    engine = connected_engine
    number = PstnBehaviour.MACHINE.number("+1202555062")
    message = str(telephony.engine.sounds_dir / "human-talk")
    call = engine.dialer.place_call(
        CallRequest(number=number, machine_message=message, amd_detector=ENGINE_AMD)
    )
    channel_id = call.channel_id

    async def answered():
        attempt = await engine.storage.attempts.get_attempt(channel_id)
        return attempt is not None and attempt.answered_at is not None

    await eventually(answered, timeout=10, what="the voicemail to answer")

    async def machine_verdict():
        # Only in memory yet: the verdict is written once the message drop is settled.
        return call.progress.verdict is Outcome.MACHINE

    # The verdict comes about 4.3 s after the answer; the beep only at 14 s: the engine is
    # still listening for it when the line goes.
    await eventually(machine_verdict, timeout=10, what="the MACHINE verdict")
    await engine.ari.hangup(channel_id)
    result = await asyncio.wait_for(call.task, timeout=10)

    assert result.outcome is Outcome.MACHINE
    attempt = await engine.storage.attempts.get_attempt(channel_id)
    assert attempt.amd_status == "MACHINE"
    assert attempt.message_started_at is None and attempt.message_ended_at is None
    await _no_amd_helpers_left(engine)


async def test_given_a_fax_machine_answers_then_its_tone_is_heard_and_the_outcome_is_fax(
    connected_engine: Engine,
):
    result = await connected_engine.dialer.call(CallRequest(number=FAX_NUMBER))

    assert result.outcome is Outcome.FAX
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    assert (attempt.outcome, attempt.amd_status) == ("fax", "FAX")


# The engine's own detector: the call stays in Stasis while the engine listens to it through a
# snoop channel and an external media channel; the verdict takes the same path as app_amd's.
async def _no_amd_helpers_left(engine: Engine) -> None:
    async def gone() -> bool:
        channels = await engine.ari.list_channels()
        bridges = await engine.ari.list_bridges()
        return not [c for c in channels if c.id.startswith("amd-")] and not [
            b for b in bridges if b.id.startswith("amd-")
        ]

    await eventually(gone, timeout=5, what="the AMD listener's channels and bridge removed")


async def test_given_the_engine_amd_detector_when_a_person_says_hello_then_human(
    connected_engine: Engine,
):
    request = CallRequest(number=PstnBehaviour.HUMAN.number(), amd_detector=ENGINE_AMD)
    result = await connected_engine.dialer.call(request)

    assert (result.amd_status, result.outcome) == ("HUMAN", Outcome.ABANDONED)
    assert result.amd_cause.startswith("HUMAN-")
    attempt = await connected_engine.storage.attempts.get_attempt(result.channel_id)
    decided = (attempt.amd_decided_at - attempt.answered_at).total_seconds()
    assert decided < 3.0
    await _no_amd_helpers_left(connected_engine)


async def test_given_the_engine_amd_detector_when_a_person_gives_his_name_then_human(
    connected_engine: Engine,
):
    """'Hello, John speaking.': stock app_amd calls it a machine (three words)."""
    number = PstnBehaviour.HUMAN_LONG_HELLO.number()
    result = await connected_engine.dialer.call(CallRequest(number=number, amd_detector=ENGINE_AMD))

    assert result.amd_status == "HUMAN"


async def test_given_the_engine_amd_detector_when_voicemail_answers_then_machine(
    connected_engine: Engine,
):
    number = PstnBehaviour.MACHINE.number()
    result = await connected_engine.dialer.call(CallRequest(number=number, amd_detector=ENGINE_AMD))

    assert (result.amd_status, result.outcome) == ("MACHINE", Outcome.MACHINE)
    assert result.amd_cause.startswith("LONGGREETING-")
    await _no_amd_helpers_left(connected_engine)


# The same through app_amd, which the default tests above no longer run.
async def test_given_the_app_amd_detector_when_a_person_gives_his_name_then_a_machine(
    connected_engine: Engine,
):
    """The known limit of stock app_amd: three words are a machine (MAXWORDS-3-2)."""
    number = PstnBehaviour.HUMAN_LONG_HELLO.number()
    result = await connected_engine.dialer.call(CallRequest(number=number, amd_detector=APP_AMD))

    assert (result.amd_status, result.amd_cause) == ("MACHINE", "MAXWORDS-3-2")


async def test_given_the_app_amd_detector_when_the_line_is_silent_then_silence(
    connected_engine: Engine,
):
    number = PstnBehaviour.SILENT.number()
    result = await connected_engine.dialer.call(CallRequest(number=number, amd_detector=APP_AMD))

    assert result.outcome is Outcome.SILENCE
    assert result.amd_cause.startswith("INITIALSILENCE")


async def test_given_the_app_amd_detector_when_a_machine_gets_a_message_then_it_is_left(
    connected_engine: Engine, telephony: Telephony
):
    """The dialplan path: WaitForSilence(800) in `engine-message-drop`, then Playback."""
    number = PstnBehaviour.MACHINE.number("+1202555062")
    await _message_after_the_beep(connected_engine, telephony, number, "app_amd")


async def test_given_the_app_amd_detector_when_a_fax_answers_then_the_trunk_hears_it(
    connected_engine: Engine,
):
    request = CallRequest(number=FAX_NUMBER, amd_detector=APP_AMD)
    result = await connected_engine.dialer.call(request)

    assert (result.outcome, result.amd_status, result.amd_cause) == (Outcome.FAX, "FAX", "CNG")
