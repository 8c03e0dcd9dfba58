"""`pbx-engine bench amd CORPUS_DIR`: every file of a labelled corpus played into a real call.

The sandboxes start (the engine's Asterisk and the phone network); each file becomes a number
of the phone network (+1 202 558 NNNN answers and plays file NNNN, then listens). For each
detector the benchmark dials every number from the engine's PBX, and once the call is answered
continues it into the detector's dialplan context; the verdict comes back into Stasis. It
counts, per detector, what people and machines were judged, and the time from answer to
verdict. Calls run a few at a time. The engine detector is run as the dialer runs it: the call
stays in Stasis and `EngineDetector` listens to it (snoop and external media).
"""

from __future__ import annotations

import asyncio
import statistics
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from pbx_engine.amd.detectors import DETECTORS, Detector, DetectorKind
from pbx_engine.amd.live import EngineDetector
from pbx_engine.ari import AriClient, ChannelGone
from pbx_engine.ari.events import ChannelDestroyed, ChannelStateChange, Dial, StasisStart
from pbx_engine.config import AriConfig
from pbx_engine.lab.amd.corpus_files import load_corpus
from pbx_engine.lab.sandbox.asterisk import Telephony
from pbx_engine.lab.sandbox.audio import speech_tools
from pbx_engine.lab.sandbox.process import run

log = structlog.get_logger(__name__)

LABELS = ("human", "machine")
NUMBER_PREFIX = "+1202558"
AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".au", ".aiff", ".raw", ".gsm")


@dataclass(frozen=True)
class Sample:
    label: str
    path: Path
    index: int

    @property
    def number(self) -> str:
        return f"{NUMBER_PREFIX}{self.index:04d}"


@dataclass(frozen=True)
class Judged:
    sample: Sample
    status: str  # HUMAN, MACHINE, NOTSURE, HANGUP, or FAILED (no verdict)
    seconds: float | None  # from answer to verdict


@dataclass
class DetectorResult:
    detector: str
    judged: list[Judged] = field(default_factory=list)

    def matrix(self) -> dict[str, Counter]:
        out = {label: Counter() for label in LABELS}
        for j in self.judged:
            out[j.sample.label][j.status] += 1
        return out

    def recall(self, label: str) -> float:
        wanted = label.upper()
        of_label = [j for j in self.judged if j.sample.label == label]
        return sum(j.status == wanted for j in of_label) / len(of_label) if of_label else 0.0

    def decision_seconds(self, quantile: float, label: str | None = None) -> float | None:
        times = sorted(
            j.seconds
            for j in self.judged
            if j.seconds is not None and (label is None or j.sample.label == label)
        )
        if not times:
            return None
        if quantile == 0.5:
            return statistics.median(times)
        return times[min(len(times) - 1, int(quantile * len(times)))]

    def as_json(self) -> dict:
        median, p90 = self.decision_seconds(0.5), self.decision_seconds(0.9)
        # People wait in silence while the detector listens: their own median is the one
        # the two-second rule is about.
        human_median = self.decision_seconds(0.5, "human")
        return {
            "detector": self.detector,
            "human_recall": round(self.recall("human"), 4),
            "machine_recall": round(self.recall("machine"), 4),
            "notsure": sum(j.status == "NOTSURE" for j in self.judged),
            "median_decision_s": None if median is None else round(median, 3),
            "p90_decision_s": None if p90 is None else round(p90, 3),
            "median_human_decision_s": None if human_median is None else round(human_median, 3),
            "files": len(self.judged),
        }


def find_samples(corpus: Path, split: str | None = None) -> list[Sample]:
    """`corpus/human/*` and `corpus/machine/*`, any format sox reads, in name order; with
    `split`, the files of that split of a corpus with a manifest (`amd corpus`), its
    call-screening assistants (`screened/`) among the machines: they are not the person."""
    if split is not None:
        files = [f for f in load_corpus(corpus) if f.split == split]
        if not files:
            raise FileNotFoundError(f"{corpus}: no files of the {split!r} split")
        return [
            Sample("human" if f.label == "human" else "machine", f.path, index)
            for index, f in enumerate(files)
        ]
    samples = []
    for label in LABELS:
        folder = corpus / label
        if not folder.is_dir():
            raise FileNotFoundError(f"{corpus}: no {label}/ folder (a corpus has human/, machine/)")
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in AUDIO):
            samples.append(Sample(label, path, len(samples)))
    if not samples:
        raise FileNotFoundError(f"{corpus}: no audio files in human/ or machine/")
    return samples


async def _install(samples: list[Sample], sounds: Path) -> None:
    """Each file as 8 kHz 16-bit mono WAV, what Playback reads, named by its index."""
    _, sox = speech_tools()
    folder = sounds / "corpus"
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    for sample in samples:
        target = folder / f"{sample.index:04d}.wav"
        await run(
            [sox, str(sample.path), "-r", "8000", "-c", "1", "-e", "signed", "-b", "16",
             str(target)],
            what=f"sox ({sample.path.name})",
        )  # fmt: skip


async def _judge(
    ari: AriClient, sample: Sample, detector: Detector, listener: EngineDetector
) -> Judged:
    loop = asyncio.get_running_loop()
    channel_id = f"amd-bench-{uuid.uuid4().hex[:12]}"
    answered_at = None
    with ari.subscribe(channel_id) as events:
        try:
            await ari.create_channel(
                f"PJSIP/{sample.number}@pstn",
                app=ari.app,
                app_args=["bench"],
                channel_id=channel_id,
            )
            await events.wait_for(StasisStart, timeout=10)
            await ari.dial(channel_id, timeout=20)
            while answered_at is None:
                event = await events.get(30)
                if isinstance(event, ChannelDestroyed):
                    return Judged(sample, "FAILED", None)
                up = isinstance(event, ChannelStateChange) and event.channel.state == "Up"
                if up or (isinstance(event, Dial) and (event.dialstatus or "") == "ANSWER"):
                    answered_at = loop.time()
            if detector.kind is DetectorKind.ENGINE:
                heard = await listener.listen(channel_id, learned=detector.learned)
                return Judged(sample, heard.status, loop.time() - answered_at)
            assert detector.context is not None
            await ari.continue_in_dialplan(
                channel_id, context=detector.context, extension="s", priority=1
            )
            verdict = await events.wait_for(
                (StasisStart, ChannelDestroyed),
                lambda e: not isinstance(e, StasisStart) or e.args[:1] == ("amd",),
                timeout=30,
            )
            if isinstance(verdict, ChannelDestroyed):
                return Judged(sample, "HANGUP", loop.time() - answered_at)
            return Judged(sample, verdict.args[1].upper(), loop.time() - answered_at)
        except (ChannelGone, TimeoutError) as error:
            log.warning(
                "amd_bench.no_verdict", file=sample.path.name, error=str(error) or repr(error)
            )
            return Judged(sample, "FAILED", None)
        finally:
            await ari.hangup(channel_id)


async def run_amd_bench(
    corpus: Path,
    detectors: list[str],
    *,
    concurrency: int = 6,
    progress=None,
    split: str | None = None,
) -> list[DetectorResult]:
    samples = find_samples(corpus, split)
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown:
        raise ValueError(f"unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)})")
    results = []
    async with Telephony.create(ari_app="amd-bench") as telephony:
        await _install(samples, telephony.pstn.sounds_dir)
        pbx = telephony.engine
        config = AriConfig(
            url=pbx.ari_url, username=pbx.ari_username, password=pbx.ari_password, app="amd-bench"
        )
        async with AriClient(config) as ari:
            await ari.wait_connected(timeout=20)
            listener = EngineDetector(ari)
            gate = asyncio.Semaphore(concurrency)
            for name in detectors:
                result = DetectorResult(name)

                async def one(sample: Sample, result=result, name=name) -> None:
                    async with gate:
                        judged = await _judge(ari, sample, DETECTORS[name], listener)
                        result.judged.append(judged)
                        if progress:
                            progress(name, len(result.judged), len(samples))

                await asyncio.gather(*(one(s) for s in samples))
                results.append(result)
    return results


def format_results(results: list[DetectorResult]) -> str:
    lines = []
    for r in results:
        data = r.as_json()
        matrix = r.matrix()
        lines.append(f"{r.detector}: {DETECTORS[r.detector].description}")
        for label in LABELS:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(matrix[label].items()))
            lines.append(f"  {label:<8} judged: {counts}")
        median, p90 = data["median_decision_s"], data["p90_decision_s"]
        lines.append(
            f"  human recall {data['human_recall']:.1%}, machine recall "
            f"{data['machine_recall']:.1%}, NOTSURE {data['notsure']}, "
            f"decision after answer: median {median} s, p90 {p90} s, "
            f"median for people {data['median_human_decision_s']} s"
        )
    return "\n".join(lines)
