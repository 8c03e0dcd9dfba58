"""The corpus that judges AMD by generalisation: its plan keeps the test split apart, and the
figures say what a detector did per split and language."""

import json
from pathlib import Path

import pytest

from pbx_engine.lab.amd.corpus_files import CorpusFile, load_corpus
from pbx_engine.lab.amd.figures import by_split, figures
from pbx_engine.lab.amd.hard_corpus import TEST_VOICES, TUNE_VOICES, plan_corpus
from pbx_engine.lab.amd.sentences import LANGUAGES


def test_the_plan_covers_every_language_label_and_kind_and_is_the_same_for_a_seed():
    items = plan_corpus(copies=4, seed=3)
    assert plan_corpus(copies=4, seed=3) == items
    assert plan_corpus(copies=4, seed=4) != items
    assert {i.language for i in items} == set(LANGUAGES) == {"en", "pl", "bg", "es", "de", "ru"}
    for language in LANGUAGES:
        kinds = {(i.label, i.kind) for i in items if i.language == language}
        assert kinds == {
            ("human", "short"), ("human", "repeat"), ("machine", "greeting"),
            ("machine", "music"), ("machine", "short-greeting"), ("machine", "carrier"),
            ("screened", "screening"),
        }  # fmt: skip
    assert {i.codec for i in items} == {"none", "gsm", "amr-nb"}
    assert {i.background for i in items} == {"quiet", "hiss", "babble", "music"}
    assert not any(i.beep for i in items if i.label != "machine")


def test_no_sentence_or_voice_of_the_test_split_is_heard_in_tuning():
    items = plan_corpus(copies=6, seed=1)
    tune = [i for i in items if i.split == "tune"]
    test = [i for i in items if i.split == "test"]
    assert tune and test
    assert {s for i in tune for s in i.sentences}.isdisjoint({s for i in test for s in i.sentences})
    assert {i.template for i in tune}.isdisjoint({i.template for i in test})
    assert {i.voice.removeprefix(i.language) for i in tune} <= set(TUNE_VOICES)
    assert {i.voice.removeprefix(i.language) for i in test} <= set(TEST_VOICES)
    assert set(TUNE_VOICES).isdisjoint(TEST_VOICES)
    assert {i.fold for i in tune} == {0, 1} and {i.fold for i in test} == {2}
    for fold in (0, 1):  # every kind is in both folds: each is judged by a model that knows it
        assert {i.kind for i in tune if i.fold == fold} == {i.kind for i in tune}


def test_people_wait_between_what_they_say_and_machines_pause_less():
    items = plan_corpus(copies=8, seed=2)
    people = [g for i in items if i.label == "human" for g in i.gaps_s]
    machines = [g for i in items if i.kind == "greeting" for g in i.gaps_s]
    assert people and machines
    assert min(people) >= 0.9 and max(machines) <= 0.9
    assert any(len(i.sentences) == 3 for i in items if i.kind == "repeat")


def test_a_corpus_is_read_from_its_manifest_or_from_its_label_folders(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no human/ folder"):
        load_corpus(tmp_path)
    for label in ("human", "machine"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.wav").write_bytes(b"")
    files = load_corpus(tmp_path)
    assert [(f.label, f.split, f.first_utterance_end_s) for f in files] == [
        ("human", "test", None),
        ("machine", "test", None),
    ]  # someone else's corpus: nothing here was tuned on it
    entry = {
        "file": "human/a.wav", "label": "human", "language": "pl", "template": "pl/openers-1",
        "kind": "short", "split": "tune", "fold": 1, "first_utterance_end_s": 1.2,
    }  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [entry]}))
    [file] = load_corpus(tmp_path)
    assert (file.language, file.split, file.fold, file.first_utterance_end_s) == (
        "pl",
        "tune",
        1,
        1.2,
    )


def _file(label: str, split: str = "test", language: str = "en", end: float | None = 1.0):
    return CorpusFile(Path(f"{label}.wav"), label, language, split=split, first_utterance_end_s=end)


def test_figures_count_screening_as_machines_and_time_the_dead_air_after_the_first_utterance():
    judged = [
        (_file("human"), "HUMAN", "", 2.5),  # first utterance ends at 0.8 + 1.0: 0.7 s dead air
        (_file("human", end=1.5), "HUMAN", "", 3.0),  # 0.7 s
        (_file("human"), "MACHINE", "", 4.0),
        (_file("human"), "NOTSURE", "", 5.0),
        (_file("machine"), "MACHINE", "", 3.0),
        (_file("screened"), "MACHINE", "", 4.0),
        (_file("machine"), "HUMAN", "", 2.0),
        (_file("machine"), "NOTSURE", "", 5.0),
    ]
    f = figures(judged, lead_in_s=0.8)
    assert (f.files, f.people, f.machines, f.notsure) == (8, 0.5, 0.5, 0.25)
    assert f.median_human_s == 2.75
    assert f.median_dead_air_s == pytest.approx(0.7)
    assert f.median_machine_s == 3.5


def test_figures_are_kept_apart_by_split_and_language():
    judged = [
        (_file("human", "tune", "en"), "HUMAN", "", 2.0),
        (_file("human", "test", "pl"), "MACHINE", "", 4.0),
        (_file("machine", "test", "en"), "MACHINE", "", 3.0),
    ]
    splits = by_split(judged, lead_in_s=0.8)
    assert set(splits) == {"tune", "test"}
    assert set(splits["test"]) == {"all", "en", "pl"}
    assert splits["tune"]["all"].people == 1.0
    assert splits["test"]["pl"].people == 0.0 and splits["test"]["pl"].machines is None
    assert splits["test"]["all"].machines == 1.0
