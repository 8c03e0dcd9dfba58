"""How a detector did on some files of a corpus, split the ways generalisation is judged.

`figures()` takes each judged file (its `CorpusFile`, the verdict's status and cause, and the
seconds from the answer to the verdict) and gives the recall of people and of machines (a
call-screening assistant counts as a machine: it is not the person), NOTSURE, and the times
that matter: for people from the answer and from the end of their first utterance (the dead
air they hear), for machines from the answer. `by_split()` gives them per split (`tune`,
`test`) and per language, so a figure on sentences a detector was tuned on is never reported
as if it were one on sentences it never heard.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pbx_engine.lab.amd.corpus_files import CorpusFile

# (file, status, cause, seconds from the answer to the verdict or None)
JudgedFile = tuple[CorpusFile, str, str, float | None]


@dataclass(frozen=True)
class Figures:
    files: int
    people: float | None  # share of people judged HUMAN
    machines: float | None  # share of machines and screening assistants judged MACHINE
    notsure: float  # share of all files judged NOTSURE
    screening_told: float | None  # screening assistants judged MACHINE with cause SCREENING
    median_human_s: float | None  # people judged HUMAN: answer to verdict
    median_dead_air_s: float | None  # people judged HUMAN: end of first utterance to verdict
    median_machine_s: float | None  # machines judged MACHINE: answer to verdict

    def as_json(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def figures(judged: Sequence[JudgedFile], lead_in_s: float) -> Figures:
    """`lead_in_s`: audio heard before the file began (the phone network's wait), so a file's
    first utterance ends `lead_in_s + first_utterance_end_s` after the answer."""
    people = [j for j in judged if j[0].label == "human"]
    others = [j for j in judged if j[0].label != "human"]
    screening = [j for j in judged if j[0].label == "screened"]
    people_heard = [(f, s) for f, status, _, s in people if status == "HUMAN" and s is not None]
    dead_air = [
        s - (lead_in_s + f.first_utterance_end_s)
        for f, s in people_heard
        if f.first_utterance_end_s is not None
    ]
    return Figures(
        files=len(judged),
        people=sum(j[1] == "HUMAN" for j in people) / len(people) if people else None,
        machines=sum(j[1] == "MACHINE" for j in others) / len(others) if others else None,
        notsure=sum(j[1] == "NOTSURE" for j in judged) / len(judged) if judged else 0.0,
        screening_told=(
            sum(j[1] == "MACHINE" and j[2].startswith("SCREENING") for j in screening)
            / len(screening)
            if screening
            else None
        ),
        median_human_s=_median([s for _, s in people_heard]),
        median_dead_air_s=_median(dead_air),
        median_machine_s=_median(
            [s for _, status, _, s in others if status == "MACHINE" and s is not None]
        ),
    )


def by_split(judged: Sequence[JudgedFile], lead_in_s: float) -> dict[str, dict[str, Figures]]:
    """{split: {"all": figures, language: figures, ...}} for every split present."""
    out: dict[str, dict[str, Figures]] = {}
    for split in sorted({j[0].split for j in judged}):
        of_split = [j for j in judged if j[0].split == split]
        out[split] = {"all": figures(of_split, lead_in_s)}
        for language in sorted({j[0].language for j in of_split}):
            of_language = [j for j in of_split if j[0].language == language]
            out[split][language] = figures(of_language, lead_in_s)
    return out


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def format_splits(detector: str, splits: dict[str, dict[str, Figures]]) -> str:
    lines = [
        f"{detector}: split / language | files | people | machines | NOTSURE | people: answer "
        "to verdict, end of first utterance to verdict | machines: answer to verdict"
    ]
    for split, groups in splits.items():
        for group, f in groups.items():
            lines.append(
                f"  {split:<5} {group:<4} | {f.files:>4} | {_percent(f.people):>6} | "
                f"{_percent(f.machines):>6} | {_percent(f.notsure):>6} | "
                f"{_seconds(f.median_human_s)}, {_seconds(f.median_dead_air_s)} | "
                f"{_seconds(f.median_machine_s)}"
            )
    return "\n".join(lines)
