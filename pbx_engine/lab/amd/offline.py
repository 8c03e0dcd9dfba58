"""`pbx-engine amd evaluate CORPUS_DIR`: the engine's listener run on the corpus files directly.

Each file is converted by sox to 8 kHz μ-law, the codec the live listener receives, decoded
back, and fed to an `AmdListener` frame by frame after the same 0.3 s the phone network waits
between answering and playing; after the file, silence (the phone network listens). No PBX: a
run over the default corpus takes seconds, so thresholds can be tried quickly with `--set`.
The figures are close to, not the same as, the benchmark's through real calls, which also
count the time Asterisk takes to set the listener up.

With `--drop` it measures the message drop instead: on each file judged a machine, the frames
after the verdict go to a `BeepListener`, and the report gives how long after the greeting's
end it said "go". The corpus's greetings with a beep (files named `...-beep`) end with the beep,
so there the time runs from the beep's end; without a beep, from the end of the file (the last
word and the little silence espeak-ng leaves after it).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pbx_engine.amd.beep import BeepListener, BeepSettings, GreetingOver
from pbx_engine.amd.g711 import ulaw_decode
from pbx_engine.amd.learned import AmdModel, LearnedListener
from pbx_engine.amd.listener import (
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE,
    AmdListener,
    AmdStatus,
    Framer,
    ListenerSettings,
    ListenerVerdict,
)
from pbx_engine.lab.amd.bench import DetectorResult, Judged, Sample, find_samples
from pbx_engine.lab.amd.corpus_files import CorpusFile, load_corpus
from pbx_engine.lab.amd.figures import JudgedFile
from pbx_engine.lab.sandbox.audio import speech_tools
from pbx_engine.lab.sandbox.process import run

LEAD_IN_S = 0.8  # the phone network: Answer() waits 0.5 s for our audio, then Wait(0.3)
_SILENT_ULAW = b"\xff"


async def ulaw_of(path: Path, scratch: Path) -> bytes:
    """The file as raw 8 kHz mono μ-law bytes (converted into the folder `scratch`)."""
    _, sox = speech_tools()
    target = scratch / f"{path.stem}.ul"
    await run(
        [sox, "-D", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law", str(target)],
        what=f"sox ({path.name})",
    )
    return await asyncio.to_thread(target.read_bytes)


def call_frames(ulaw: bytes, lead_in_s: float, listen_ms: int) -> Iterator[array]:
    """A recording as a call's 20 ms frames: `lead_in_s` of silence before it (the phone
    network's wait) and after it silence enough to fill `listen_ms` (a listener waiting for
    the end of a greeting hears it end)."""
    lead = _SILENT_ULAW * int(lead_in_s * SAMPLE_RATE)
    tail = _SILENT_ULAW * ((listen_ms // FRAME_MS + 1) * FRAME_SAMPLES)
    return Framer().push(ulaw_decode(lead + ulaw + tail))


def _first_verdict(
    listener: AmdListener | LearnedListener, frames: Iterable[array]
) -> ListenerVerdict | None:
    for frame in frames:
        verdict = listener.feed(frame)
        if verdict is not None:
            return verdict
    return None


def judge_audio(
    ulaw: bytes, settings: ListenerSettings, lead_in_s: float = LEAD_IN_S
) -> tuple[str, float | None]:
    """(status, seconds from the answer to the verdict) for one recording."""
    frames = call_frames(ulaw, lead_in_s, settings.total_analysis_ms)
    verdict = _first_verdict(AmdListener(settings), frames)
    if verdict is None:
        return "FAILED", None
    return verdict.status.value, verdict.decided_ms / 1000


@dataclass(frozen=True)
class DropTiming:
    """What the listeners made of one recording when a message is to be left on machines."""

    status: str  # the AMD verdict; the beep listener runs only after MACHINE
    over: GreetingOver | None
    greeting_end_s: float  # from the answer: the end of the recording
    go_s: float | None  # from the answer: when the beep listener said go

    @property
    def after_greeting_s(self) -> float | None:
        """From the greeting's end to go; negative: the message would start over it."""
        return None if self.go_s is None else self.go_s - self.greeting_end_s


def judge_drop(
    ulaw: bytes,
    settings: ListenerSettings,
    beep_settings: BeepSettings,
    lead_in_s: float = LEAD_IN_S,
) -> DropTiming:
    """The AMD verdict on one recording and, for a machine, when the message would start."""
    listener = AmdListener(settings)
    beep: BeepListener | None = None
    listen_ms = settings.total_analysis_ms + beep_settings.max_wait_ms
    greeting_end_s = lead_in_s + len(ulaw) / SAMPLE_RATE
    status = "FAILED"
    for frame in call_frames(ulaw, lead_in_s, listen_ms):
        if beep is None:
            verdict = listener.feed(frame)
            if verdict is None:
                continue
            status = verdict.status.value
            if verdict.status is not AmdStatus.MACHINE:
                break
            beep = BeepListener.after(listener.recent_levels, beep_settings)
            continue
        over = beep.feed(frame)
        if over is not None:
            go_s = (listener.heard_ms + over.heard_ms) / 1000
            return DropTiming(status, over, greeting_end_s, go_s)
    return DropTiming(status, None, greeting_end_s, None)


@dataclass
class DropReport:
    """The message drop on a corpus's machines, greetings with a beep and without apart."""

    timings: dict[str, list[DropTiming]] = field(
        default_factory=lambda: {"beep": [], "no beep": []}
    )

    def as_json(self) -> dict:
        out = {}
        for kind, timings in self.timings.items():
            measured = [t.after_greeting_s for t in timings if t.after_greeting_s is not None]
            # Said go before the greeting ended: the message would start over it. Counted
            # apart; the times are those of the goes after the end.
            after = sorted(a for a in measured if a >= 0)
            reasons = Counter(t.over.reason.value if t.over else t.status for t in timings)
            out[kind] = {
                "files": len(timings),
                "go_by": dict(sorted(reasons.items())),
                "early": len(measured) - len(after),
                "median_after_end_s": round(statistics.median(after), 3) if after else None,
                "p90_after_end_s": (
                    round(after[min(len(after) - 1, int(0.9 * len(after)))], 3) if after else None
                ),
                "max_after_end_s": round(after[-1], 3) if after else None,
            }
        return out


def format_drop(report: DropReport) -> str:
    lines = []
    for kind, data in report.as_json().items():
        reasons = ", ".join(f"{k} {v}" for k, v in data["go_by"].items()) or "none"
        end = "the beep's end" if kind == "beep" else "the end of the greeting's file"
        lines.append(
            f"machines, {kind}: {data['files']} file(s); go by: {reasons}; "
            f"before the end {data['early']}; from {end} to go (the others): "
            f"median {data['median_after_end_s']} s, "
            f"p90 {data['p90_after_end_s']} s, max {data['max_after_end_s']} s"
        )
    return "\n".join(lines)


async def ulaw_files(paths: list[Path], concurrency: int) -> list[bytes]:
    """Each file as raw 8 kHz μ-law bytes, `concurrency` conversions at a time."""
    gate = asyncio.Semaphore(concurrency)
    with tempfile.TemporaryDirectory(prefix="amd-evaluate-") as scratch:

        async def convert(index: int, path: Path) -> bytes:
            async with gate:
                folder = Path(scratch) / str(index)
                await asyncio.to_thread(folder.mkdir)
                return await ulaw_of(path, folder)

        return await asyncio.gather(*(convert(i, p) for i, p in enumerate(paths)))


async def _corpus_audio(samples: list[Sample], concurrency: int) -> list[bytes]:
    return await ulaw_files([s.path for s in samples], concurrency)


async def evaluate_corpus(
    corpus: Path, settings: ListenerSettings | None = None, *, concurrency: int = 4
) -> DetectorResult:
    samples = find_samples(corpus)
    settings = settings or ListenerSettings()
    audio = await _corpus_audio(samples, concurrency)
    result = DetectorResult("engine")
    for sample, ulaw in zip(samples, audio, strict=True):
        status, seconds = judge_audio(ulaw, settings)
        result.judged.append(Judged(sample, status, seconds))
    return result


async def evaluate_drop(
    corpus: Path,
    settings: ListenerSettings | None = None,
    beep_settings: BeepSettings | None = None,
    *,
    concurrency: int = 4,
) -> DropReport:
    samples = [s for s in find_samples(corpus) if s.label == "machine"]
    audio = await _corpus_audio(samples, concurrency)
    report = DropReport()
    for sample, ulaw in zip(samples, audio, strict=True):
        timing = judge_drop(ulaw, settings or ListenerSettings(), beep_settings or BeepSettings())
        report.timings["beep" if sample.path.stem.endswith("-beep") else "no beep"].append(timing)
    return report


def judge_learned(
    ulaw: bytes, model: AmdModel, lead_in_s: float = LEAD_IN_S
) -> tuple[str, str, float | None]:
    """(status, cause, seconds from the answer to the verdict) of the learned listener."""
    listener = LearnedListener(model)
    assert listener.settings is not None
    frames = call_frames(ulaw, lead_in_s, listener.settings.total_analysis_ms)
    verdict = _first_verdict(listener, frames)
    if verdict is None:
        return "FAILED", "", None
    return verdict.status.value, verdict.cause, verdict.decided_ms / 1000


async def evaluate_files(
    corpus: Path,
    settings: ListenerSettings | None = None,
    *,
    model: AmdModel | None = None,
    concurrency: int = 4,
    files: list[CorpusFile] | None = None,
) -> list[JudgedFile]:
    """The engine's listener (with `model`, the learned one) on every file of `corpus`
    (`amd corpus`'s, with its splits, or any folder of labelled files), as `figures.by_split`
    reads them."""
    files = load_corpus(corpus) if files is None else files
    settings = settings or ListenerSettings()
    audio = await ulaw_files([f.path for f in files], concurrency)
    judged: list[JudgedFile] = []
    for file, ulaw in zip(files, audio, strict=True):
        if model is not None:
            status, cause, seconds = judge_learned(ulaw, model)
        else:
            status, seconds = judge_audio(ulaw, settings)
            cause = ""
        judged.append((file, status, cause, seconds))
    return judged
