"""The debtor menu's prompt files, made with espeak-ng into a folder Asterisk reads
(`pbx-engine prompts DIR`): the words and voices are routing's (`pbx_engine/routing/prompts.py`),
the speech maker is the sandbox's."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from pbx_engine.lab.sandbox.audio import Speech, render
from pbx_engine.routing.prompts import PROMPTS, VOICES


async def build_prompts(directory: Path, languages: list[str] | None = None) -> list[Path]:
    """Make every prompt of `languages` (default: all) into `directory`."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    made = []
    for language in languages or list(PROMPTS):
        for name, text in PROMPTS[language].items():
            # espeak-ng, then sox into Playback's format; cached by the sandbox.
            source = await render(Speech(text, voice=VOICES[language], wpm=150))
            target = directory / f"pbx-ivr-{name}-{language}.wav"
            await asyncio.to_thread(shutil.copyfile, source, target)
            made.append(target)
    return made
