"""The engine's AMD listener on audio frames, without a PBX: synthetic tone bursts and silences,
and speech made by espeak-ng, through the same μ-law decoding the live listener uses."""

import math
import shutil

import pytest

from pbx_engine.amd.g711 import ulaw_decode, ulaw_encode
from pbx_engine.amd.listener import (
    FRAME_MS,
    FRAME_SAMPLES,
    AmdListener,
    AmdStatus,
    Framer,
    ListenerSettings,
    frame_dbfs,
    tone_purity,
)
from pbx_engine.lab.amd.offline import evaluate_corpus, judge_audio, ulaw_of
from pbx_engine.lab.sandbox.audio import Speech, fax_tone, render

SILENCE = [0] * FRAME_SAMPLES


def tone(ms: int, amplitude: int = 8000, hz: int = 440) -> list[list[int]]:
    """Frames of a sine tone: a stand-in for a voiced sound."""
    frames = []
    for f in range(ms // FRAME_MS):
        start = f * FRAME_SAMPLES
        frames.append(
            [
                int(amplitude * math.sin(2 * math.pi * hz * (start + i) / 8000))
                for i in range(FRAME_SAMPLES)
            ]
        )
    return frames


def syllables(ms: int) -> list[list[int]]:
    """Speech-like sound: 200 ms bursts with 40 ms dips, as syllables have (a steady tone
    longer than the floor's window would become the floor, as line noise does)."""
    frames: list[list[int]] = []
    while len(frames) * FRAME_MS < ms:
        frames += tone(200) + quiet(40)
    return frames[: ms // FRAME_MS]


def quiet(ms: int) -> list[list[int]]:
    return [SILENCE] * (ms // FRAME_MS)


def run(frames, settings: ListenerSettings | None = None):
    listener = AmdListener(settings or ListenerSettings())
    for frame in frames:
        verdict = listener.feed(frame)
        if verdict is not None:
            return verdict
    return None


def test_given_a_short_greeting_then_silence_when_listening_then_it_is_a_person():
    verdict = run(quiet(300) + tone(200) + quiet(100) + tone(300) + quiet(3000))
    assert verdict.status is AmdStatus.HUMAN
    assert verdict.cause == "HUMAN-600-500"
    # Decided as soon as the silence after the greeting is long enough, not at the end.
    assert verdict.decided_ms == 300 + 600 + 500
    assert verdict.greeting_ms == 600


def test_given_a_longer_greeting_then_silence_when_listening_then_a_person_after_more_silence():
    verdict = run(quiet(300) + syllables(2000) + quiet(3000))
    assert verdict.status is AmdStatus.HUMAN
    assert verdict.cause == "HUMAN-2000-800"
    assert verdict.decided_ms == 300 + 2000 + 800


def test_given_a_short_word_then_a_pause_shorter_than_needed_then_the_greeting_goes_on():
    # "Hello." then 400 ms, then more: not yet a person waiting for an answer.
    verdict = run(tone(400) + quiet(400) + syllables(4000))
    assert verdict.status is AmdStatus.MACHINE


def test_given_speech_that_runs_on_when_listening_then_it_is_a_machine():
    words = []
    for _ in range(20):  # words of 250 ms with 150 ms between them: a greeting, 8 s long
        words += tone(250) + quiet(150)
    verdict = run(quiet(300) + words)
    assert verdict.status is AmdStatus.MACHINE
    assert verdict.cause.startswith("LONGGREETING-")
    assert verdict.decided_ms == 300 + ListenerSettings().max_greeting_ms


def test_given_nothing_said_when_listening_then_the_line_is_silent():
    verdict = run(quiet(10_000))
    assert (verdict.status, verdict.cause) == (AmdStatus.MACHINE, "INITIALSILENCE-2500-2500")


def test_given_steady_line_noise_when_listening_then_it_is_not_taken_for_speech():
    # Noise from the first frame (a constant-level buzz well above the absolute minimum):
    # the floor is the line's own level, so this is silence, then a greeting above it.
    noise = tone(2000, amplitude=600, hz=1900)
    verdict = run(noise + [
        [a + b for a, b in zip(n, t, strict=True)]
        for n, t in zip(tone(500, 600, 1900), tone(500), strict=True)
    ] + tone(2000, amplitude=600, hz=1900))  # fmt: skip
    assert verdict.status is AmdStatus.HUMAN
    assert verdict.greeting_ms == 500


def test_given_a_click_when_listening_then_it_is_no_word():
    verdict = run(quiet(500) + tone(40) + quiet(3000))
    assert verdict.status is AmdStatus.MACHINE  # still silence: the click was too short
    assert verdict.cause.startswith("INITIALSILENCE")


def test_given_a_pause_shorter_than_the_after_greeting_silence_then_the_greeting_goes_on():
    settings = ListenerSettings(after_greeting_silence_ms=800, max_greeting_ms=2000)
    verdict = run(
        quiet(200) + syllables(1200) + quiet(700) + syllables(1200) + quiet(700) + tone(600),
        settings,
    )
    assert verdict.status is AmdStatus.MACHINE


def test_given_no_verdict_by_the_end_of_analysis_then_notsure():
    settings = ListenerSettings(max_greeting_ms=10_000, total_analysis_ms=3000)
    verdict = run(tone(200) + quiet(300) + syllables(5000), settings)
    assert (verdict.status, verdict.cause) == (AmdStatus.NOTSURE, "TOOLONG-3000")


@pytest.mark.parametrize(("hz", "cause"), [(1100, "CNG"), (2100, "CED")])
def test_given_a_fax_tone_when_listening_then_fax(hz, cause):
    verdict = run(quiet(300) + tone(500, hz=hz) + quiet(3000))
    assert (verdict.status, verdict.cause) == (AmdStatus.FAX, cause)
    assert verdict.decided_ms == 300 + 400


def test_given_the_tail_of_a_fax_burst_as_listening_starts_then_fax_at_the_next_burst():
    """The first CNG burst half heard (listening began late) is no "Yes?" and its silence:
    the next burst, 3 s later, tells."""
    verdict = run(tone(200, hz=1100) + quiet(3000) + tone(500, hz=1100) + quiet(3000))
    assert (verdict.status, verdict.cause) == (AmdStatus.FAX, "CNG")
    assert verdict.decided_ms == 200 + 3000 + 400


def test_given_only_short_fax_bursts_then_fax_when_the_analysis_ends():
    frames = (tone(200, hz=2100) + quiet(2000)) * 3
    verdict = run(frames)
    assert (verdict.status, verdict.cause) == (AmdStatus.FAX, "CED")
    assert verdict.decided_ms == ListenerSettings().total_analysis_ms


def test_given_a_voicemail_beep_at_another_pitch_then_it_is_no_fax():
    verdict = run(quiet(300) + tone(600, hz=1000) + quiet(3000))
    assert verdict.status is AmdStatus.HUMAN  # a short sound, then silence


def test_the_tone_purity_of_a_frame():
    assert tone_purity(tone(20, hz=1100)[0], 1100) == pytest.approx(1.0, abs=1e-6)
    assert tone_purity(tone(20, hz=440)[0], 1100) < 0.01
    assert tone_purity(SILENCE, 1100) == 0.0


async def test_given_the_sandbox_fax_tone_when_judged_then_fax(tmp_path):
    status, seconds = judge_audio(await ulaw_of(await fax_tone(), tmp_path), ListenerSettings())
    assert status == "FAX"
    assert seconds < 1.5


def test_after_a_verdict_further_frames_change_nothing():
    listener = AmdListener()
    verdicts = [listener.feed(f) for f in quiet(3000)]
    assert verdicts[-1] is verdicts[len(quiet(2500)) - 1]


def test_frame_energy_in_dbfs():
    assert frame_dbfs(SILENCE) == -96.0
    assert frame_dbfs([]) == -96.0
    assert frame_dbfs([32767, -32768] * 80) == pytest.approx(0.0, abs=0.01)
    assert frame_dbfs(tone(20, amplitude=16384)[0]) == pytest.approx(-9.03, abs=0.1)


def test_the_framer_cuts_chunks_of_any_size_into_20_ms_frames():
    framer = Framer()
    assert list(framer.push(range(100))) == []
    [frame] = list(framer.push(range(100, 250)))
    assert frame == list(range(160))
    assert framer.pending == list(range(160, 250))


def test_settings_change_from_text_and_refuse_unknown_names():
    settings = ListenerSettings().with_changes(max_greeting_ms="2500", speech_margin_db="7.5")
    assert (settings.max_greeting_ms, settings.speech_margin_db) == (2500, 7.5)
    with pytest.raises(ValueError, match="no listener setting 'greed'"):
        ListenerSettings().with_changes(greed="1")


# Real speech, made now by espeak-ng (cached), through μ-law as the live listener hears it.
async def test_given_hello_spoken_when_judged_then_a_person_quickly(tmp_path):
    wav = await render(Speech("Hello?", voice="en", wpm=165))
    status, seconds = judge_audio(await ulaw_of(wav, tmp_path), ListenerSettings())
    assert status == "HUMAN"
    assert seconds < 2.0


async def test_given_a_voicemail_greeting_spoken_when_judged_then_a_machine(tmp_path):
    text = "Hi, you have reached John. I can't take your call right now. Please leave a message."
    wav = await render(Speech(text, voice="en", wpm=165))
    status, seconds = judge_audio(await ulaw_of(wav, tmp_path), ListenerSettings())
    assert status == "MACHINE"
    assert seconds < 5.5  # 0.8 s before the greeting, then 3.8 s of it


async def test_the_offline_evaluator_scores_a_tiny_corpus(tmp_path):
    greeting = "The person you are calling is not available. Please leave your name."
    for label, text in (("human", "Yes?"), ("machine", greeting)):
        (tmp_path / label).mkdir()
        wav = await render(Speech(text, voice="en", wpm=165))
        shutil.copyfile(wav, tmp_path / label / "one.wav")
    result = await evaluate_corpus(tmp_path)
    assert result.detector == "engine"
    assert result.as_json()["human_recall"] == 1.0
    assert result.as_json()["machine_recall"] == 1.0


def test_mu_law_decoded_speech_keeps_its_level():
    frame = tone(20, amplitude=8000)[0]
    decoded = ulaw_decode(ulaw_encode(frame))
    assert frame_dbfs(decoded) == pytest.approx(frame_dbfs(frame), abs=0.3)


def test_decoding_in_c_gives_the_tables_values_for_every_byte():
    from pbx_engine.amd.g711 import ALAW_TO_LINEAR, ULAW_TO_LINEAR, alaw_decode

    every = bytes(range(256))
    assert list(ulaw_decode(every)) == list(ULAW_TO_LINEAR)
    assert list(alaw_decode(every)) == list(ALAW_TO_LINEAR)
    assert list(ulaw_decode(b"")) == []


def test_zero_crossings_estimate_a_pure_tone_s_frequency():
    from pbx_engine.amd.listener import zero_crossings

    for hz in (400, 1100, 2100):
        tone = [int(8000 * math.sin(2 * math.pi * hz * (i + 0.5) / 8000)) for i in range(160)]
        assert abs(zero_crossings(tone) * 8000 / (2 * 160) - hz) <= 25
    assert zero_crossings([]) == 0 and zero_crossings([5]) == 0
