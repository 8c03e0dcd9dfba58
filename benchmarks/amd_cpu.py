"""Benchmark: CPU time the AMD listeners take per second of a call's audio.

    .venv/bin/python benchmarks/amd_cpu.py CORPUS_DIR

Feeds every file of the corpus (`pbx-engine amd corpus`), decoded from μ-law as the live
listener receives it, to the energy listener and to the learned one, which are kept listening
to the end of each file (no verdict stops them), and reports the process's CPU time per second
of audio. One core listens to about 1000 / that many calls at once. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path

from pbx_engine.amd.g711 import ulaw_decode
from pbx_engine.amd.learned import LearnedListener, shipped_model
from pbx_engine.amd.listener import FRAME_MS, AmdListener, Framer, ListenerSettings
from pbx_engine.lab.amd.corpus_files import load_corpus
from pbx_engine.lab.amd.offline import ulaw_files

NEVER = 10**9


def energy_listener() -> AmdListener:
    settings = ListenerSettings(
        initial_silence_ms=NEVER,
        after_greeting_silence_ms=NEVER,
        after_short_greeting_silence_ms=NEVER,
        max_greeting_ms=NEVER,
        total_analysis_ms=NEVER,
    )
    return AmdListener(settings)


def learned_listener() -> LearnedListener:
    model = shipped_model()
    never = replace(
        model.settings,
        human_threshold=2.0,
        machine_threshold=2.0,
        initial_silence_ms=NEVER,
        total_analysis_ms=NEVER,
    )
    return LearnedListener(model, never)


async def main(corpus: Path) -> None:
    files = load_corpus(corpus)
    audio = await ulaw_files([f.path for f in files], concurrency=2)
    calls = [list(Framer().push(ulaw_decode(a))) for a in audio]
    seconds = sum(len(frames) for frames in calls) * FRAME_MS / 1000
    for name, make in (("energy", energy_listener), ("learned", learned_listener)):
        began = time.process_time()
        for frames in calls:
            listener = make()
            for frame in frames:
                listener.feed(frame)
        cpu_ms = (time.process_time() - began) * 1000
        print(
            f"{name}: {cpu_ms / seconds:.2f} ms of CPU per second of audio "
            f"({len(calls)} files, {seconds:.0f} s of audio)"
        )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
