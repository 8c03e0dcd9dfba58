"""The files of a labelled AMD corpus, with what is known of each.

A corpus made by `pbx-engine amd corpus` has a `manifest.json` (language, template, split,
when the first utterance ends). Any other corpus is a folder per label (`human/`, `machine/`,
optionally `screened/`) of audio files: each is then in the `test` split (nothing here was
tuned on it) and its first utterance's end is unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LABELS = ("human", "machine", "screened")
AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".raw", ".gsm")


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    label: str  # human | machine | screened
    language: str = "?"
    template: str = "?"
    kind: str = "?"
    split: str = "test"  # tune | test
    fold: int = 2
    first_utterance_end_s: float | None = None  # from the file's start


def load_corpus(directory: Path) -> list[CorpusFile]:
    """The corpus's files, from its manifest if it has one, else from its label folders."""
    manifest = directory / "manifest.json"
    if manifest.exists():
        entries = json.loads(manifest.read_text(encoding="utf-8"))["files"]
        return [
            CorpusFile(
                path=directory / entry["file"],
                label=entry["label"],
                language=entry["language"],
                template=entry["template"],
                kind=entry["kind"],
                split=entry["split"],
                fold=entry["fold"],
                first_utterance_end_s=entry["first_utterance_end_s"],
            )
            for entry in entries
        ]
    files = []
    for label in LABELS:
        folder = directory / label
        if not folder.is_dir():
            if label == "screened":
                continue
            raise FileNotFoundError(
                f"{directory}: no {label}/ folder (a corpus has human/, machine/)"
            )
        files += [
            CorpusFile(path, label)
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in AUDIO
        ]
    if not files:
        raise FileNotFoundError(f"{directory}: no audio files in human/ or machine/")
    return files
