"""`pbx-engine amd evaluate CORPUS_DIR`: the engine's listener run on the corpus files directly.

Each file is converted by sox to 8 kHz μ-law, the codec the live listener receives, decoded
back, and fed to an `AmdListener` frame by frame after the same 0.3 s the phone network waits
between answering and playing; after the file, silence (the phone network listens). No PBX: a
run over the default corpus takes seconds, so thresholds can be tried quickly with `--set`.
The figures are close to, not the same as, the benchmark's through real calls, which also
count the time Asterisk takes to set the listener up.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from pbx_engine.amd.bench import DetectorResult, Judged, Sample, find_samples
from pbx_engine.amd.g711 import ulaw_decode
from pbx_engine.amd.listener import FRAME_SAMPLES, AmdListener, Framer, ListenerSettings
from pbx_engine.sandbox.audio import speech_tools
from pbx_engine.sandbox.process import run

LEAD_IN_S = 0.8  # the phone network: Answer() waits 0.5 s for our audio, then Wait(0.3)
_SILENT_ULAW = b"\xff"


async def ulaw_of(path: Path, scratch: Path) -> bytes:
    """The file as raw 8 kHz mono μ-law bytes (converted into the folder `scratch`)."""
    _, sox = speech_tools()
    target = scratch / f"{path.stem}.ul"
    await run(
        [sox, str(path), "-t", "raw", "-r", "8000", "-c", "1", "-e", "u-law", str(target)],
        what=f"sox ({path.name})",
    )
    return await asyncio.to_thread(target.read_bytes)


def judge_audio(
    ulaw: bytes, settings: ListenerSettings, lead_in_s: float = LEAD_IN_S
) -> tuple[str, float | None]:
    """(status, seconds from the answer to the verdict) for one recording."""
    listener = AmdListener(settings)
    framer = Framer()
    lead = _SILENT_ULAW * int(lead_in_s * 8000)
    tail_frames = settings.total_analysis_ms // 20 + 1
    audio = lead + ulaw + _SILENT_ULAW * (tail_frames * FRAME_SAMPLES)
    for frame in framer.push(ulaw_decode(audio)):
        verdict = listener.feed(frame)
        if verdict is not None:
            return verdict.status.value, verdict.decided_ms / 1000
    return "FAILED", None


async def evaluate_corpus(
    corpus: Path, settings: ListenerSettings | None = None, *, concurrency: int = 4
) -> DetectorResult:
    samples = find_samples(corpus)
    settings = settings or ListenerSettings()
    gate = asyncio.Semaphore(concurrency)

    with tempfile.TemporaryDirectory(prefix="amd-evaluate-") as scratch:

        async def convert(sample: Sample) -> bytes:
            async with gate:
                return await ulaw_of(sample.path, Path(scratch) / sample.label)

        for label in {s.label for s in samples}:
            (Path(scratch) / label).mkdir()
        audio = await asyncio.gather(*(convert(s) for s in samples))
    result = DetectorResult("engine")
    for sample, ulaw in zip(samples, audio, strict=True):
        status, seconds = judge_audio(ulaw, settings)
        result.judged.append(Judged(sample, status, seconds))
    return result
