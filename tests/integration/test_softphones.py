"""Agents' softphones (SIPp) register with digest authentication and carry real RTP audio."""

import uuid

from pbx_engine.ari.events import ChannelStateChange, StasisStart
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.sipp import SippPhone


async def test_given_a_softphone_registers_when_ami_is_asked_then_the_agent_is_reachable(
    connected_engine: Engine,
    agent_phone: SippPhone,
):
    status = await connected_engine.ami.endpoint("agent-001")
    assert status is not None
    assert status.reachable
    assert status.device_state == "Not in use"


async def test_given_a_registered_softphone_when_called_then_its_audio_reaches_asterisk(
    connected_engine: Engine,
    agent_phone: SippPhone,
):
    ari = connected_engine.ari
    channel_id = f"agent-leg-{uuid.uuid4()}"
    with ari.subscribe(channel_id) as events:
        await ari.create_channel(
            "PJSIP/agent-001", app=ari.app, channel_id=channel_id, app_args=["agent"]
        )
        # /dial before the channel's StasisStart is refused (409): wait for it.
        await events.wait_for(StasisStart, timeout=5)
        await ari.dial(channel_id, timeout=10)
        await events.wait_for(ChannelStateChange, lambda e: e.channel.state == "Up", timeout=10)
        # AMD listens to what the phone sends: a verdict from speech proves RTP flows; a phone
        # whose audio is lost gives NOTSURE with NOAUDIODATA.
        await ari.continue_in_dialplan(channel_id, context="engine-amd", extension="s", priority=1)
        verdict = await events.wait_for(StasisStart, lambda e: e.args[:1] == ("amd",), timeout=15)
        await ari.hangup(channel_id)

    status, cause = verdict.args[1], verdict.args[2]
    assert status in ("HUMAN", "MACHINE"), cause
    assert not cause.startswith("NOAUDIODATA")
