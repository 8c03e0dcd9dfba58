"""The beep listener on audio frames, without a PBX: synthetic tones, bursts, noise and silences,
and greetings espeak-ng makes at test time (as the corpus generator makes them, with and without
a beep), through the same μ-law decoding the live listener uses."""

import math
import random

import pytest

from pbx_engine.amd.beep import BeepListener, BeepSettings, GoReason, dominant_tone
from pbx_engine.amd.g711 import ulaw_decode
from pbx_engine.amd.listener import FRAME_MS, FRAME_SAMPLES, Framer, ListenerSettings
from pbx_engine.lab.amd.corpus import MACHINES
from pbx_engine.lab.amd.offline import judge_drop, ulaw_of
from pbx_engine.lab.sandbox.audio import Speech, render

SILENCE = [0] * FRAME_SAMPLES


def tone(ms: int, hz: float = 1000, amplitude: int = 8000) -> list[list[int]]:
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


def vowel(ms: int, pitch_hz: float = 120, glide_hz: float = 30) -> list[list[int]]:
    """A voiced sound: harmonics of a pitch that glides, loudest near formants at 700 and
    1200 Hz (an "a"), the spectrum a beep must not be confused with."""
    frames = []
    phase = [0.0] * 30
    for f in range(ms // FRAME_MS):
        pitch = pitch_hz + glide_hz * f / max(1, ms // FRAME_MS)
        frame = []
        for _ in range(FRAME_SAMPLES):
            value = 0.0
            for h in range(1, 30):
                hz = pitch * h
                if hz > 3500:
                    break
                weight = math.exp(-(((hz - 700) / 250) ** 2)) + 0.6 * math.exp(
                    -(((hz - 1200) / 250) ** 2)
                )
                phase[h] += 2 * math.pi * hz / 8000
                value += weight * math.sin(phase[h])
            frame.append(int(3000 * value))
        frames.append(frame)
    return frames


def noise(ms: int, amplitude: int = 300, seed: int = 1) -> list[list[int]]:
    rng = random.Random(seed)
    return [
        [int(rng.gauss(0, amplitude)) for _ in range(FRAME_SAMPLES)] for _ in range(ms // FRAME_MS)
    ]


def mixed(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    return [[x + y for x, y in zip(fa, fb, strict=True)] for fa, fb in zip(a, b, strict=True)]


def quiet(ms: int) -> list[list[int]]:
    return [SILENCE] * (ms // FRAME_MS)


def syllables(ms: int) -> list[list[int]]:
    """Speech-like bursts: 200 ms of a gliding vowel, 40 ms dips."""
    frames: list[list[int]] = []
    while len(frames) * FRAME_MS < ms:
        frames += vowel(200) + quiet(40)
    return frames[: ms // FRAME_MS]


def run(frames, settings: BeepSettings | None = None):
    listener = BeepListener(settings or BeepSettings())
    for frame in frames:
        over = listener.feed(frame)
        if over is not None:
            return over
    return None


def test_given_a_beep_after_the_greeting_then_go_as_soon_as_it_ends():
    over = run(syllables(1500) + quiet(300) + tone(600) + quiet(3000))
    assert over.reason is GoReason.BEEP
    # The first frame without the tone says it is over.
    assert over.heard_ms == 1500 + 300 + 600 + FRAME_MS
    assert over.beep_ms == 600
    assert abs(over.beep_hz - 1000) <= 25


@pytest.mark.parametrize("hz", [425, 850, 1400, 1975])
def test_given_beeps_of_other_pitches_under_line_noise_then_each_is_found(hz):
    frames = syllables(1000) + quiet(200) + tone(400, hz=hz) + quiet(2000)
    over = run(mixed(frames, noise(len(frames) * FRAME_MS)))
    assert over.reason is GoReason.BEEP
    assert over.heard_ms == 1000 + 200 + 400 + FRAME_MS


def test_given_a_beep_that_ends_mid_frame_then_go_at_that_frame():
    samples = [s for frame in tone(330) for s in frame][: int(0.33 * 8000) - 40]
    frames = list(Framer().push(samples + [0] * 8000))
    over = run(syllables(1000) + frames)
    assert over.reason is GoReason.BEEP
    assert over.heard_ms == 1000 + 340


def test_given_vowels_when_listening_then_they_are_not_taken_for_a_beep():
    for pitch in (100, 120, 180, 220):
        for frame in vowel(400, pitch_hz=pitch, glide_hz=0):
            found = dominant_tone(frame, 400, 2000)
            assert found is None or found[1] < BeepSettings().beep_purity
    over = run(syllables(3000) + quiet(1000))
    assert over.reason is GoReason.SILENCE


def test_given_a_tone_shorter_than_a_beep_then_it_is_not_one():
    over = run(syllables(500) + tone(60) + syllables(500) + quiet(1000))
    assert over.reason is GoReason.SILENCE


def test_given_a_tone_too_long_for_a_beep_then_the_silence_after_it_ends_the_greeting():
    over = run(syllables(500) + tone(2000) + quiet(1000))
    assert over.reason is GoReason.SILENCE
    assert over.heard_ms == 500 + 2000 + BeepSettings().silence_ms


def test_given_no_beep_when_the_greeting_is_followed_by_silence_then_go_after_it():
    over = run(syllables(2000) + quiet(500) + syllables(1000) + quiet(3000))
    assert over.reason is GoReason.SILENCE
    assert (
        over.heard_ms == 2000 + 500 + 1000 + BeepSettings().silence_ms
    )  # a pause of 0.5 s is no end


def test_the_silence_that_ends_a_greeting_is_a_setting():
    over = run(syllables(1000) + quiet(3000), BeepSettings(silence_ms=1200))
    assert (over.reason, over.heard_ms) == (GoReason.SILENCE, 1000 + 1200)


def test_given_steady_line_noise_then_it_counts_as_silence():
    frames = mixed(syllables(1000) + quiet(2000), noise(3000, amplitude=600))
    over = BeepListener.after([-40.0] * 30)
    for frame in frames:
        if over.feed(frame):
            break
    assert over.over.reason is GoReason.SILENCE


def test_given_a_greeting_that_never_ends_then_go_at_the_cap():
    over = run(syllables(30_000), BeepSettings(max_wait_ms=5000))
    assert (over.reason, over.heard_ms) == (GoReason.CAP, 5000)


def test_after_go_further_frames_change_nothing():
    listener = BeepListener()
    results = [listener.feed(f) for f in tone(300) + quiet(2000)]
    assert results[-1] is results[len(tone(300))]


def test_settings_change_from_text_and_refuse_unknown_names():
    assert BeepSettings().with_changes(silence_ms="1000").silence_ms == 1000
    with pytest.raises(ValueError, match="no beep setting 'patience'"):
        BeepSettings().with_changes(patience="1")


# Greetings as the corpus generator makes them (espeak-ng, then sox's 0.4 s pause and 0.6 s
# 1 kHz beep), heard through μ-law after the AMD listener's MACHINE verdict.
@pytest.mark.parametrize(("language", "voice"), [("en", "en+m3"), ("de", "de+f2"), ("ru", "ru")])
async def test_given_a_corpus_greeting_with_a_beep_then_go_just_after_the_beep(
    tmp_path, language, voice
):
    wav = await render(Speech(MACHINES[language][0], voice=voice, wpm=190, beep=True))
    timing = judge_drop(await ulaw_of(wav, tmp_path), ListenerSettings(), BeepSettings())
    assert timing.status == "MACHINE"
    assert timing.over.reason is GoReason.BEEP
    assert 0 <= timing.after_greeting_s < 0.1  # the beep ends the file


@pytest.mark.parametrize(("language", "voice"), [("en", "en+m7"), ("es", "es+f4"), ("pl", "pl")])
async def test_given_a_corpus_greeting_without_a_beep_then_no_vowel_is_a_beep(
    tmp_path, language, voice
):
    wav = await render(Speech(MACHINES[language][1], voice=voice, wpm=140))
    ulaw = await ulaw_of(wav, tmp_path)
    # From the first word, not only after the verdict: every vowel of the greeting is heard.
    listener = BeepListener(BeepSettings(silence_ms=10_000, max_wait_ms=60_000))
    for frame in Framer().push(ulaw_decode(ulaw)):
        assert listener.feed(frame) is None
    timing = judge_drop(ulaw, ListenerSettings(), BeepSettings())
    assert timing.status == "MACHINE"
    assert timing.over.reason is GoReason.SILENCE
    assert 0 < timing.after_greeting_s < 1.0


async def test_given_a_slow_greeting_with_a_long_pause_before_its_beep_then_the_setting_decides(
    tmp_path,
):
    """Why the silence rule waits 1 s: espeak-ng at 140 words a minute leaves more than 0.8 s
    between its last word and the beep, so 0.8 s (the dialplan's WaitForSilence(800)) goes
    before the beep and the box would miss the start of the message; 1 s waits for it."""
    wav = await render(Speech(MACHINES["en"][0], voice="en", wpm=140, beep=True))
    ulaw = await ulaw_of(wav, tmp_path)
    hasty = judge_drop(ulaw, ListenerSettings(), BeepSettings(silence_ms=800))
    default = judge_drop(ulaw, ListenerSettings(), BeepSettings())
    assert hasty.over.reason is GoReason.SILENCE and hasty.after_greeting_s < 0
    assert default.over.reason is GoReason.BEEP and 0 <= default.after_greeting_s < 0.1
