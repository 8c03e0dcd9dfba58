"""Test speech made with espeak-ng and sox: people answering, voicemail greetings, beeps.

Files are 16-bit signed 8 kHz mono WAV, what Asterisk's Playback() reads (a u-law WAV makes it
hang up), and are made once per text and voice in a cache folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from pbx_engine.sandbox.errors import SandboxError

# name -> (voice, words per minute, text, beep after)
SOUNDS: dict[str, tuple[str, int, str, bool]] = {
    "human-hello": ("en", 160, "Hello?", False),
    "human-long-hello": ("en", 160, "Hello, John speaking.", False),
    "human-talk": (
        "en",
        160,
        "Yes, I got your letter last week. I can pay part of it on Friday, "
        "and the rest at the end of the month, if that works for you.",
        False,
    ),
    "machine-greeting-beep": (
        "en",
        170,
        "Hi, you have reached the voicemail of John Smith. I can't take your call right now. "
        "Please leave your name, number and a short message after the tone, "
        "and I will call you back as soon as I can.",
        True,
    ),
    "machine-greeting": (
        "en",
        170,
        "The person you are calling is not available. Please try again later, "
        "or send a text message. Thank you for calling.",
        False,
    ),
}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pbx-engine" / "audio"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SandboxError(
            f"{name} is not installed (Debian package {package}; run scripts/setup.sh)"
        )
    return path


def _run(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxError(f"{Path(args[0]).name} failed: {done.stderr.strip()[:500]}")


def speech(
    directory: Path, name: str, text: str, *, voice: str = "en", wpm: int = 160, beep: bool = False
) -> Path:
    """Make `directory/name.wav` from `text` (cached by content); returns its path."""
    espeak = _tool("espeak-ng", "espeak-ng")
    sox = _tool("sox", "sox")
    key = hashlib.sha256(f"{voice}|{wpm}|{beep}|{text}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"{key}.wav"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        raw = cached.with_suffix(".raw.wav")
        _run([espeak, "-v", voice, "-s", str(wpm), "-w", str(raw), text])
        parts = [str(raw)]
        if beep:
            tone = cached.with_suffix(".beep.wav")
            _run(
                [
                    sox,
                    "-n",
                    "-r",
                    "22050",
                    "-c",
                    "1",
                    str(tone),
                    "synth",
                    "0.6",
                    "sine",
                    "1000",
                    "pad",
                    "0.4",
                    "0",
                ]
            )
            parts.append(str(tone))
        tmp = cached.with_suffix(".tmp.wav")
        _run([sox, *parts, "-r", "8000", "-c", "1", "-e", "signed", "-b", "16", str(tmp)])
        tmp.rename(cached)
        for leftover in (raw, cached.with_suffix(".beep.wav")):
            leftover.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.wav"
    shutil.copyfile(cached, target)
    return target


def make_test_sounds(directory: Path) -> dict[str, Path]:
    return {
        name: speech(directory, name, text, voice=voice, wpm=wpm, beep=beep)
        for name, (voice, wpm, text, beep) in SOUNDS.items()
    }
