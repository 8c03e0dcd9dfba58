"""Call screening on the real sandboxes: a phone's assistant answers, asks who calls; the engine
says the campaign's identity line, hears the assistant answer back, marks the call screened and
waits for the person, whose "Hello?" puts him through to an agent. A voicemail box without a
beep gets the same line as its message, and stays a machine."""

from datetime import timedelta

import pytest

from ari_apps.outcomes import Outcome
from ari_apps.screening_call import ScreeningPolicy
from pbx_engine.agents.states import AgentStatus
from pbx_engine.amd.detectors import DETECTORS
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony, screening_number
from tests.waiting import eventually

ENGINE_AMD = DETECTORS["engine"]
PRESENTED = "+12025550999"  # the dialer's caller ID in the sandboxes


def policy(telephony: Telephony, wait_for_person: float, reply_window: float = 10.0):
    line = str(telephony.engine.sounds_dir / "identity-line")
    return ScreeningPolicy(line, wait_for_person=wait_for_person, reply_window=reply_window)


@pytest.mark.parametrize("detector", ["engine", "learned"])
async def test_given_an_assistant_whose_owner_comes_then_he_is_put_through_and_it_counts_screened(
    connected_engine: Engine, telephony: Telephony, ready_agent: AgentStatus, detector: str
):
    """With either of the engine's listeners (the reply and the person are listened to by the
    campaign's)."""
    engine = connected_engine
    request = CallRequest(
        number=screening_number(owner_comes=True, prefix=f"+120255600{len(detector)}"),
        screening=policy(telephony, wait_for_person=20),
        amd_detector=DETECTORS[detector],
    )
    call = engine.dialer.place_call(request)

    async def put_through():
        attempt = await engine.storage.attempts.get_attempt(call.channel_id)
        return attempt if attempt is not None and attempt.bridged_at is not None else None

    attempt = await eventually(put_through, timeout=45, what="the person to be put through")
    assert engine.agents.status("anna").call_id == call.channel_id
    # The line was said (and is on record as the message left), the assistant answered it
    # back, and only then did its owner come to the phone.
    assert attempt.answered_at < attempt.message_started_at < attempt.message_ended_at
    assert attempt.message_ended_at < attempt.screened_at < attempt.bridged_at
    # Put through on the owner's "Hello?", not on the assistant's own thanks (2.5 s long, then
    # 2 s of silence before the owner speaks).
    assert (attempt.bridged_at - attempt.screened_at).total_seconds() > 2.0
    await engine.ari.hangup(call.channel_id)
    result = await call.task
    assert result.outcome is Outcome.HUMAN and result.amd_status == "MACHINE"
    ended = await engine.storage.attempts.get_attempt(call.channel_id)
    assert ended.outcome == "human" and not ended.abandoned


async def test_given_an_assistant_and_nobody_comes_then_the_call_ends_screened_and_counts_so(
    connected_engine: Engine, telephony: Telephony
):
    engine = connected_engine
    number = screening_number(owner_comes=False, prefix="+1202556002")
    request = CallRequest(
        number=number, screening=policy(telephony, wait_for_person=5), amd_detector=ENGINE_AMD
    )
    result = await engine.dialer.call(request)

    assert result.outcome is Outcome.SCREENED
    attempt = await engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.outcome == "screened" and attempt.bridged_at is None
    assert attempt.message_ended_at < attempt.screened_at < attempt.ended_at
    # Hung up on by us, the wait for the person over: 5 s after the line (and at most the
    # grace of a listening begun just before that).
    waited = (attempt.ended_at - attempt.message_ended_at).total_seconds()
    assert 4.5 < waited < 9, waited
    # The caller-ID health figures: screened, and not answered (its owner did not take it).
    stats = await engine.storage.caller_ids.caller_id_stats(
        [PRESENTED], attempt.created_at - timedelta(seconds=1)
    )
    assert stats[PRESENTED].screened >= 1
    mine = await engine.storage.pool.fetchval(
        "SELECT count(*) FROM call_attempts WHERE caller_id = $1 AND created_at >= $2 "
        "AND answered_at IS NOT NULL AND screened_at IS NULL",
        PRESENTED,
        attempt.created_at - timedelta(seconds=1),
    )
    assert stats[PRESENTED].answered == mine  # this call is not among the answered


async def test_given_voicemail_without_a_beep_then_the_line_is_its_message_and_it_stays_a_machine(
    connected_engine: Engine, telephony: Telephony
):
    """The box records in silence after the line: no reply, so no assistant."""
    engine = connected_engine
    request = CallRequest(
        number=PstnBehaviour.MACHINE_NO_BEEP.number("+1202555064"),
        screening=policy(telephony, wait_for_person=20, reply_window=4),
        amd_detector=ENGINE_AMD,
    )
    result = await engine.dialer.call(request)

    assert result.outcome is Outcome.MACHINE
    attempt = await engine.storage.attempts.get_attempt(result.channel_id)
    assert attempt.screened_at is None and attempt.outcome == "machine"
    assert attempt.amd_decided_at < attempt.message_started_at < attempt.message_ended_at
    assert (attempt.message_ended_at - attempt.message_started_at).total_seconds() > 4
    waited = (attempt.ended_at - attempt.message_ended_at).total_seconds()
    assert 3.5 < waited < 8, waited
