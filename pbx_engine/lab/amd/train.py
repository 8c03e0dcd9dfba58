"""`pbx-engine amd train CORPUS... --out MODEL.json`: fit the learned detector's trees.

Each file of the corpora's `tune` split is played (offline, as μ-law after the phone network's
lead-in) into `GreetingFeatures`; at every moment the detector would ask the model (`asks_now`:
as a pause grows, and every half second of speech) the features so far make one row labelled
with the file's class. scikit-learn fits gradient-boosted trees on the rows, people weighing as
much as machines and assistants together (`_rows`). The thresholds are then tuned on
out-of-fold predictions (the model of one fold judging the other), so they are chosen on files
the trees did not learn from: the most people and machines right, a person counting
`PEOPLE_WEIGHT` times a machine, with NOTSURE at most 2%, then the least dead air (`tune`).
The `test` split is never read here.

The written file holds the trees, the thresholds and the recipe (corpora, seeds, parameters,
the out-of-fold figures) that rebuilds it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pbx_engine.amd.features import FEATURE_NAMES, GreetingFeatures
from pbx_engine.amd.learned import CLASSES, LearnedSettings, ToneSpotter, asks_now, frame_zcr
from pbx_engine.amd.listener import frame_dbfs
from pbx_engine.lab.amd.corpus_files import CorpusFile
from pbx_engine.lab.amd.figures import Figures, figures
from pbx_engine.lab.amd.offline import LEAD_IN_S, call_frames

PARAMETERS = {
    "n_estimators": 60,
    "max_depth": 3,
    "learning_rate": 0.15,
    "subsample": 0.8,
    "random_state": 7,
}


@dataclass
class Checkpoints:
    """A file's features at every moment the detector would ask the model."""

    file: CorpusFile
    times_ms: list[int] = field(default_factory=list)
    vectors: list[list[float]] = field(default_factory=list)
    silences_ms: list[int] = field(default_factory=list)
    onset_ms: int | None = None


def checkpoints(file: CorpusFile, ulaw: bytes, settings: LearnedSettings) -> Checkpoints:
    """Features at every moment the detector asks the model (`asks_now`), to
    `total_analysis_ms`."""
    features, tones = GreetingFeatures(), ToneSpotter()
    out = Checkpoints(file)
    for frame in call_frames(ulaw, LEAD_IN_S, settings.total_analysis_ms):
        level, zcr = frame_dbfs(frame), frame_zcr(frame)
        features.feed(level, tone=tones.is_tone(frame, level, zcr))
        now = features.heard_ms
        if now > settings.total_analysis_ms:
            break
        if not asks_now(features):
            continue
        out.onset_ms = features.onset_ms
        out.times_ms.append(now)
        out.vectors.append(features.vector())
        out.silences_ms.append(features.silence_ms)
    return out


@dataclass(frozen=True)
class Decision:
    status: str  # HUMAN, MACHINE, NOTSURE
    cause: str
    decided_ms: int


def decide(
    points: Checkpoints, probabilities: Sequence[Sequence[float]], settings: LearnedSettings
) -> Decision:
    """What `LearnedListener` decides on this file, given the model's probabilities at each
    checkpoint (columns in `CLASSES` order)."""
    if points.onset_ms is None or points.onset_ms >= settings.initial_silence_ms:
        return Decision("MACHINE", "INITIALSILENCE", settings.initial_silence_ms)
    for now, p, silence in zip(points.times_ms, probabilities, points.silences_ms, strict=True):
        if p[0] >= settings.human_threshold and silence >= settings.min_human_silence_ms:
            return Decision("HUMAN", "HUMAN", now)
        if p[1] + p[2] >= settings.machine_threshold:
            return Decision("MACHINE", "SCREENING" if p[2] > p[1] else "LEARNED", now)
    return Decision("NOTSURE", "TOOLONG", settings.total_analysis_ms)


# -- fitting -------------------------------------------------------------------------------


def _rows(points: Sequence[Checkpoints]):
    """Training rows: every moment the detector asks the model, of every file. Each class
    weighs its share in all, spread evenly over its rows: the model learns how likely each
    class is at such a moment as such moments come, a file that asks more often giving
    more rows."""
    rows, labels, weights = [], [], []
    per_class = {c: sum(len(p.times_ms) for p in points if p.file.label == c) for c in CLASSES}
    # People weigh as much as everything else: the verdict that matters is person or not.
    share = {"human": 0.5, "machine": 0.35, "screened": 0.15}
    for p in points:
        weight = share[p.file.label] / max(1, per_class[p.file.label])
        for vector in p.vectors:
            rows.append(vector)
            labels.append(CLASSES.index(p.file.label))
            weights.append(weight)
    return rows, labels, weights


def fit(points: Sequence[Checkpoints], parameters: dict | None = None):
    from sklearn.ensemble import GradientBoostingClassifier

    rows, labels, weights = _rows(points)
    if set(labels) != set(range(len(CLASSES))):
        raise ValueError("training needs files of every class: human, machine, screened")
    model = GradientBoostingClassifier(**(parameters or PARAMETERS))
    model.fit(rows, labels, sample_weight=[w * len(rows) for w in weights])
    return model


def predict(model, points: Sequence[Checkpoints]) -> list[list[list[float]]]:
    """The model's probabilities at every checkpoint of every file."""
    flat = [v for p in points for v in p.vectors]
    if not flat:
        return [[] for _ in points]
    proba = model.predict_proba(flat).tolist()
    out, start = [], 0
    for p in points:
        out.append(proba[start : start + len(p.vectors)])
        start += len(p.vectors)
    return out


def export(model, settings: LearnedSettings, recipe: dict) -> dict:
    """The model as the engine reads it (`TreeEnsemble.from_json`)."""
    import numpy as np

    stages = []
    for stage in model.estimators_:
        trees = []
        for estimator in stage:
            t = estimator.tree_
            trees.append(
                {
                    "feature": [int(f) if f >= 0 else 0 for f in t.feature],
                    "threshold": [round(float(x), 6) for x in t.threshold],
                    "left": [int(x) for x in t.children_left],
                    "right": [int(x) for x in t.children_right],
                    "value": [round(float(v), 6) for v in t.value[:, 0, 0]],
                }
            )
        stages.append(trees)
    # The start scores, read off the model itself: its decision on any row less the trees.
    x = np.zeros((1, len(FEATURE_NAMES)))
    trees_sum = np.zeros(len(CLASSES))
    for stage in model.estimators_:
        for k, estimator in enumerate(stage):
            trees_sum[k] += model.learning_rate * estimator.predict(x)[0]
    initial = (model.decision_function(x)[0] - trees_sum).tolist()
    return {
        "classes": list(CLASSES),
        "features": list(FEATURE_NAMES),
        "initial": [round(v, 6) for v in initial],
        "learning_rate": model.learning_rate,
        "stages": stages,
        "settings": vars(settings),
        "recipe": recipe,
    }


# -- tuning the thresholds -----------------------------------------------------------------


def out_of_fold(
    points: Sequence[Checkpoints], parameters: dict | None = None
) -> list[list[list[float]]]:
    """Each file's probabilities from a model fitted on the other folds."""
    out: list[list[list[float]] | None] = [None] * len(points)
    for fold in sorted({p.file.fold for p in points}):
        train = [p for p in points if p.file.fold != fold]
        held = [i for i, p in enumerate(points) if p.file.fold == fold]
        model = fit(train, parameters)
        for i, proba in zip(held, predict(model, [points[i] for i in held]), strict=True):
            out[i] = proba
    return [o or [] for o in out]


def judged_with(
    points: Sequence[Checkpoints], probabilities, settings: LearnedSettings
) -> list[tuple[CorpusFile, str, str, float | None]]:
    out = []
    for p, proba in zip(points, probabilities, strict=True):
        d = decide(p, proba, settings)
        out.append((p.file, d.status, d.cause, d.decided_ms / 1000))
    return out


def _figures(judged) -> Figures:
    return figures(judged, LEAD_IN_S)


# A person taken for a machine is an abandoned call; a machine taken for a person costs an
# agent a few seconds. In choosing thresholds, a person judged right counts this many times a
# machine judged right.
PEOPLE_WEIGHT = 2.0


def tune(points: Sequence[Checkpoints], probabilities, base: LearnedSettings) -> LearnedSettings:
    """The thresholds that judge the most people and machines right (people weighing
    `PEOPLE_WEIGHT` times as much), with NOTSURE on at most 2% of the files, then the least dead
    air. Chosen on out-of-fold predictions (a model that knew half the templates judging the
    other half), which are pessimistic about people."""
    best, best_key = base, None
    for silence in (300, 500, 700, 1000):
        for human in (0.5, 0.6, 0.7, 0.8, 0.9):
            for machine in (0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
                settings = replace(
                    base,
                    human_threshold=human,
                    machine_threshold=machine,
                    min_human_silence_ms=silence,
                )
                f = _figures(judged_with(points, probabilities, settings))
                key = (
                    f.notsure <= 0.02,
                    round(PEOPLE_WEIGHT * (f.people or 0.0) + (f.machines or 0.0), 3),
                    -(f.median_dead_air_s or 9.0),
                )
                if best_key is None or key > best_key:
                    best, best_key = settings, key
    return best


def train(
    points: Sequence[Checkpoints],
    recipe: dict,
    *,
    parameters: dict | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict, dict]:
    """Fit on every tune file, with thresholds from the out-of-fold predictions; returns the
    model file's content and the figures (out-of-fold, and on the training files)."""
    tune_points = [p for p in points if p.file.split == "tune"]
    if not tune_points:
        raise ValueError("no files of the tune split (a corpus made by `amd corpus`)")
    base = LearnedSettings()
    log(f"out-of-fold predictions on {len(tune_points)} files")
    oof = out_of_fold(tune_points, parameters)
    settings = tune(tune_points, oof, base)
    oof_figures = _figures(judged_with(tune_points, oof, settings))
    log(f"thresholds: human {settings.human_threshold}, machine {settings.machine_threshold}")
    model = fit(tune_points, parameters)
    fitted = _figures(judged_with(tune_points, predict(model, tune_points), settings))
    report = {"out_of_fold": oof_figures.as_json(), "training_files": fitted.as_json()}
    data = export(
        model,
        settings,
        {**recipe, "parameters": parameters or PARAMETERS, "figures": report},
    )
    return data, report


def write_model(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")


async def read_corpora(
    directories: Sequence[Path], settings: LearnedSettings, *, concurrency: int = 2
) -> list[Checkpoints]:
    """Every file of the corpora, converted to μ-law and played into the features."""
    from pbx_engine.lab.amd.corpus_files import load_corpus
    from pbx_engine.lab.amd.offline import ulaw_files

    files = [f for d in directories for f in load_corpus(d)]
    audio = await ulaw_files([f.path for f in files], concurrency)
    return [checkpoints(f, ulaw, settings) for f, ulaw in zip(files, audio, strict=True)]
