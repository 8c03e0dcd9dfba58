"""Supervision on the real PBX, verified from the audio: every party is a phone of the PSTN
sandbox that sends its own tone and records what it hears (+1 202 557 FFFF, FFFF Hz), so the
recordings show whose voice reached whom in each mode."""

import asyncio
import time
from pathlib import Path

import pytest

from pbx_engine.agents.states import AgentState
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from pbx_engine.lab.sandbox.audio import tone_levels
from pbx_engine.supervision import SupervisionMode
from pbx_engine.supervision.service import SupervisionError
from tests.waiting import eventually, now

DEBTOR, AGENT, SUPERVISOR = "+12025570600", "+12025571000", "+12025571400"
TONE = {DEBTOR: 600, AGENT: 1000, SUPERVISOR: 1400}
MODE_SECONDS = 3.0


def heard_by(pstn: PstnSandbox, number: str, since: float) -> Path:
    files = [
        p for p in pstn.recordings_dir.glob(f"heard-{number}-*.wav") if p.stat().st_mtime >= since
    ]
    assert files, f"{number} recorded nothing"
    return max(files, key=lambda p: p.stat().st_mtime)


def recording_closed(path: Path) -> bool:
    """Whether Asterisk has closed this WAV file: it writes the sizes into the header then."""
    with path.open("rb") as wav:
        riff_size = int.from_bytes(wav.read(8)[4:], "little")
    return riff_size == path.stat().st_size - 8


def share_with_tone(path: Path, who: str, before_end: tuple[float, float]) -> float:
    """The share of 100 ms windows, from `before_end[0]` to `before_end[1]` seconds before the
    file's end, in which `who`'s tone is loud (a tone from Playtones arrives at about 1/4 of
    full scale; speech at that frequency stays far below 1/40)."""
    levels = tone_levels(path, TONE[who])
    first, last = (len(levels) - round(s * 10) for s in before_end)
    assert first >= 0, f"{path.name} is shorter than {before_end[0]} s"
    window = levels[first:last]
    return sum(level > 800 for level in window) / len(window)


async def test_given_an_agent_on_a_call_when_a_supervisor_listens_whispers_and_barges_then_each_hears_the_right_parties(  # noqa: E501
    connected_engine: Engine, pstn_asterisk: PstnSandbox
):
    engine = connected_engine
    began = time.time() - 1
    await engine.storage.agents.upsert_agent("tina", "Tina", sip_endpoint=f"{AGENT}@pstn")
    await engine.storage.agents.upsert_agent("sam", "Sam", role="supervisor")
    sam = await engine.storage.agents.get_agent("sam")
    nobody = await engine.storage.agents.get_agent("tina")
    await engine.agents.login("tina")
    try:
        await engine.agents.reserve({"tina"})
        call = engine.dialer.place_call(CallRequest(number=DEBTOR, agent="tina"))
        await eventually(
            now(lambda: engine.agents.status("tina").state is AgentState.ON_CALL),
            timeout=15,
            what="the debtor to reach tina",
        )
        with pytest.raises(SupervisionError, match="only supervisors"):
            await engine.supervision.start(
                nobody, "tina", SupervisionMode.LISTEN, number=SUPERVISOR
            )

        session = await engine.supervision.start(
            sam, "tina", SupervisionMode.LISTEN, number=SUPERVISOR
        )
        listened = time.monotonic()
        await asyncio.sleep(MODE_SECONDS)  # each mode lasts this long; the audio is checked
        await engine.supervision.switch("sam", SupervisionMode.WHISPER)
        whispered = time.monotonic()
        await asyncio.sleep(MODE_SECONDS)
        await engine.supervision.switch("sam", SupervisionMode.BARGE)
        barged = time.monotonic()
        await asyncio.sleep(MODE_SECONDS)
        hung_up = time.monotonic()
        await engine.ari.hangup(call.channel_id)
        await asyncio.wait_for(call.task, timeout=10)
        # The supervised call is over: so is the supervision, and the supervisor's call.
        await eventually(
            now(lambda: engine.supervision.session_of("sam") is None),
            timeout=5,
            what="the supervision to end with the call",
        )
    finally:
        await engine.agents.logout("tina")
    assert session.agent == "tina"
    log = [
        e
        for e in await engine.storage.supervision.supervision_log()
        if e.channel_id == call.channel_id
    ]
    assert [e.action for e in reversed(log)] == ["listen", "whisper", "barge", "stop"]

    async def recorders_closed():
        # The PSTN's recorders close their files once its side of each call has hung up.
        if await pstn_asterisk.channels():
            return None
        heard = [heard_by(pstn_asterisk, number, began) for number in (DEBTOR, AGENT, SUPERVISOR)]
        return heard if all(map(recording_closed, heard)) else None

    debtor_heard, agent_heard, boss_heard = await eventually(
        recorders_closed, timeout=10, what="the PSTN's recordings to be closed"
    )

    # Each mode's middle part, in seconds before the hang-up: a phone's recorder writes only
    # while audio reaches it, so the files line up at their ends, not their starts.
    def span(start: float) -> tuple[float, float]:
        return hung_up - start - 0.7, hung_up - start - MODE_SECONDS + 0.5

    listen, whisper, barge = span(listened), span(whispered), span(barged)
    # The supervisor hears both sides.
    assert share_with_tone(boss_heard, DEBTOR, listen) > 0.8
    assert share_with_tone(boss_heard, AGENT, listen) > 0.8
    # Listening: nobody hears him.
    assert share_with_tone(debtor_heard, SUPERVISOR, listen) < 0.1
    assert share_with_tone(agent_heard, SUPERVISOR, listen) < 0.1
    # Whispering: the agent hears him, the debtor does not.
    assert share_with_tone(agent_heard, SUPERVISOR, whisper) > 0.8
    assert share_with_tone(debtor_heard, SUPERVISOR, whisper) < 0.1
    # Barging: both do. And all along the debtor and the agent hear each other.
    assert share_with_tone(debtor_heard, SUPERVISOR, barge) > 0.8
    assert share_with_tone(agent_heard, SUPERVISOR, barge) > 0.8
    assert share_with_tone(debtor_heard, AGENT, (listen[0], barge[1])) > 0.8
    assert share_with_tone(agent_heard, DEBTOR, (listen[0], barge[1])) > 0.8
