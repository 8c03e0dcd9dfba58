"""The learned detector: its features, the shipped model read in plain Python as scikit-learn
fitted it, and its verdicts on plain sounds."""

import math
import random

import pytest

from pbx_engine.amd.features import FEATURE_NAMES, PAUSE_MS, GreetingFeatures
from pbx_engine.amd.learned import (
    CLASSES,
    LearnedListener,
    TreeEnsemble,
    asks_now,
    frame_zcr,
    shipped_model,
)
from pbx_engine.amd.listener import FRAME_SAMPLES, AmdStatus

SPEECH_DB, QUIET_DB = -20.0, -70.0


def talk(ms: int, level: float = SPEECH_DB) -> list[tuple[float, int]]:
    """Speech of `ms`: syllables with the short dips between them that speech always has
    (a steady sound becomes the noise floor within 0.6 s)."""
    out: list[tuple[float, int]] = []
    while ms > 0:
        out.append((level, min(160, ms)))
        ms -= 160
        if ms > 0:
            out.append((level - 30, min(40, ms)))
            ms -= 40
    return out


def fed(pattern: list[tuple[float, int]]) -> GreetingFeatures:
    """Features after (level, milliseconds) runs."""
    features = GreetingFeatures()
    for level, ms in pattern:
        for _ in range(ms // 20):
            features.feed(level)
    return features


def named(features: GreetingFeatures) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, features.vector(), strict=True))


def test_an_utterance_a_pause_and_another_are_measured():
    f = named(fed([(QUIET_DB, 600), *talk(760), (QUIET_DB, 1200), *talk(360)]))
    assert f["utterances"] == 2 and f["first_done"] == 1
    assert f["first_ms"] == 760 and f["last_ms"] == 360
    assert f["longest_pause_ms"] == 1200
    assert f["span_ms"] == 760 + 1200 + 360
    assert f["words"] == 4 + 2 and f["silence_ms"] == 0


def test_gaps_between_words_do_not_end_an_utterance():
    gap = PAUSE_MS - 100
    f = named(fed([(QUIET_DB, 600), *talk(160), (QUIET_DB, gap), *talk(160)]))
    assert f["utterances"] == 1 and f["words"] == 2 and f["first_done"] == 0
    assert f["first_ms"] == 160 + gap + 160


def test_nothing_said_gives_an_empty_vector_and_no_question():
    features = fed([(QUIET_DB, 2000)])
    assert features.vector() == [0.0] * len(FEATURE_NAMES)
    assert not asks_now(features)


def test_a_louder_voice_over_babble_starts_the_count_again():
    babble = [*talk(160, -40.0), (QUIET_DB, 400), *talk(360, -40.0)]
    f = named(fed([*babble, *talk(560, -15.0)]))
    assert f["utterances"] == 1 and f["first_ms"] == 560


def test_the_model_is_asked_as_a_pause_grows_and_every_half_second_of_speech():
    features = fed([(QUIET_DB, 400), *talk(560)])
    asked = []
    for _ in range(60):  # 1.2 s of silence after the speech
        features.feed(QUIET_DB)
        if asks_now(features):
            asked.append(features.silence_ms)
    assert asked == [300, 500, 700, 1000]
    talking = fed([(QUIET_DB, 400)])
    times = []
    for level, ms in talk(1960):
        for _ in range(ms // 20):
            talking.feed(level)
            if asks_now(talking):
                times.append(talking.heard_ms - talking.onset_ms)
    assert times == [500, 1000, 1500]


def test_the_shipped_model_reads_and_gives_probabilities():
    model = shipped_model()
    assert model.ensemble.features == FEATURE_NAMES
    assert model.ensemble.classes == CLASSES
    assert model.recipe["command"].startswith("pbx-engine amd train")
    assert 0.5 <= model.settings.human_threshold < 1 and 0.5 <= model.settings.machine_threshold < 1
    p = model.ensemble.probabilities(fed([(QUIET_DB, 400), *talk(560)]).vector())
    assert set(p) == set(CLASSES) and math.isclose(sum(p.values()), 1.0)


def test_the_trees_give_what_scikit_learn_fitted():
    # scikit-learn is the lab's (`pip install .[lab]`, which scripts/setup.sh installs).
    import random
    from pathlib import Path

    from pbx_engine.amd.learned import LearnedSettings
    from pbx_engine.lab.amd.corpus_files import CorpusFile
    from pbx_engine.lab.amd.train import Checkpoints, export, fit

    rng = random.Random(3)
    points = []
    for i in range(60):
        label = CLASSES[i % 3]
        vectors = [[rng.uniform(0, 3000) for _ in FEATURE_NAMES] for _ in range(5)]
        for v in vectors:  # something to learn: the first feature says the class
            v[0] = CLASSES.index(label) * 1000 + rng.uniform(0, 900)
        points.append(Checkpoints(CorpusFile(Path(f"{i}.wav"), label), [1] * 5, vectors))
    model = fit(points, {"n_estimators": 10, "max_depth": 3, "random_state": 1})
    ensemble = TreeEnsemble.from_json(export(model, LearnedSettings(), {}))
    rows = [v for p in points for v in p.vectors]
    for row, expected in zip(rows, model.predict_proba(rows), strict=True):
        got = ensemble.probabilities(row)
        assert [got[c] for c in CLASSES] == pytest.approx(list(expected), abs=1e-4)


def frames(level_db: float, ms: int, hz: float = 0.0) -> list[list[int]]:
    """`ms` of noise at `level_db`, or of a tone at `hz`; noise comes in syllables with dips."""
    rng = random.Random(7)
    amplitude = 32768 * 10 ** (level_db / 20)
    out = []
    for index in range(ms // 20):
        if hz:
            start = index * FRAME_SAMPLES
            out.append(
                [
                    int(amplitude * math.sqrt(2) * math.sin(2 * math.pi * hz * (start + n) / 8000))
                    for n in range(FRAME_SAMPLES)
                ]
            )
        else:
            dip = 0.03 if index % 10 >= 8 else 1.0  # 40 ms of every 200
            out.append([int(rng.gauss(0, amplitude * dip)) for _ in range(FRAME_SAMPLES)])
    return out


def verdict_of(listener: LearnedListener, audio: list[list[int]]):
    for frame in audio:
        verdict = listener.feed(frame)
        if verdict is not None:
            return verdict
    return None


def test_a_silent_line_and_a_fax_are_heard_as_the_energy_listener_hears_them():
    silent = verdict_of(LearnedListener(shipped_model()), frames(-80, 3000))
    assert silent.status is AmdStatus.MACHINE and silent.cause.startswith("INITIALSILENCE")
    fax = verdict_of(LearnedListener(shipped_model()), frames(-15, 1000, hz=1100))
    assert fax.status is AmdStatus.FAX and fax.cause == "CNG"


def test_a_short_hello_then_silence_is_a_person_and_a_long_greeting_with_a_beep_a_machine():
    hello = frames(-80, 400) + frames(-18, 500) + frames(-80, 3000)
    person = verdict_of(LearnedListener(shipped_model()), hello)
    assert person.status is AmdStatus.HUMAN
    greeting = frames(-80, 300)
    for _ in range(4):  # sentences with short pauses
        greeting += frames(-18, 1100) + frames(-80, 300)
    greeting += frames(-12, 600, hz=1000) + frames(-80, 2000)
    machine = verdict_of(LearnedListener(shipped_model()), greeting)
    assert machine.status is AmdStatus.MACHINE


def _crossings_from_rest(samples):
    """The count the model was trained on, written plainly: sign changes from a silent sample
    before the frame."""
    crossings, previous = 0, 0
    for sample in samples:
        if (sample >= 0) != (previous >= 0):
            crossings += 1
        previous = sample
    return crossings


def test_frame_zero_crossings_count_as_the_model_was_trained():
    rng = random.Random(5)
    frames = [[rng.randint(-3, 3) * rng.choice((1, 1000)) for _ in range(160)] for _ in range(500)]
    frames += [[], [0], [-1], [1, -1], [-5, -5, 0, 0, -1]]
    assert all(frame_zcr(f) == _crossings_from_rest(f) for f in frames)
