"""Test speech made with espeak-ng and sox: people answering, voicemail greetings, hold music.

Each sound is made once per text, voice and encoding into a cache folder
(`$PBX_ENGINE_AUDIO_CACHE`, else `~/.cache/pbx-engine/audio`) and copied from there into a
sandbox. Two encodings, because the two consumers read files differently:
- Asterisk's Playback() wants 16-bit signed 8 kHz mono WAV; a u-law WAV makes it fail and the
  channel hangs up.
- SIPp's `rtp_stream` sends the file's bytes as they are, so a phone sending RTP payload type 0
  (PCMU, what the endpoints allow) needs u-law samples.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox.process import require_binary, run

log = structlog.get_logger(__name__)

# Part of every cache key: bump it when the recipe below changes, so old files are not reused.
_RECIPE = "2"


class Encoding(enum.Enum):
    SLIN16 = "signed"  # Asterisk Playback()
    ULAW = "u-law"  # SIPp rtp_stream with payload type 0


@dataclass(frozen=True)
class Speech:
    text: str
    voice: str = "en"  # espeak-ng voice: en, pl, bg, es, ... (debtors do not all speak English)
    wpm: int = 160
    beep: bool = False  # a 1 kHz tone after the words, as an answering machine gives


# The sandbox's sounds, by the name the PSTN dialplan plays them as: ${SOUNDS}/<name>.
SOUNDS: dict[str, Speech] = {
    "human-hello": Speech("Hello?"),
    "human-long-hello": Speech("Hello, John speaking."),
    "human-talk": Speech(
        "Yes, I got your letter last week. I can pay part of it on Friday, "
        "and the rest at the end of the month, if that works for you."
    ),
    "machine-greeting-beep": Speech(
        "Hi, you have reached the voicemail of John Smith. I can't take your call right now. "
        "Please leave your name, number and a short message after the tone, "
        "and I will call you back as soon as I can.",
        wpm=170,
        beep=True,
    ),
    # A phone's call-screening assistant (as iOS words it), its thanks once told who calls, and
    # a campaign's identity line (the engine's side says it).
    "screening-prompt": Speech(
        "Hi, if you record your name and reason for calling, I'll see if this person is available."
    ),
    "screening-thanks": Speech("Thanks. Please stay on the line."),
    "identity-line": Speech("This is Acme Collections, for John Smith. Please call us back."),
    "machine-greeting": Speech(
        "The person you are calling is not available. Please try again later, "
        "or send a text message. Thank you for calling.",
        wpm=170,
    ),
}

# Music-on-hold class "default" plays every file in this subfolder (musiconhold.conf).
HOLD_MUSIC = Path("moh") / "hold-tone.wav"


def cache_dir() -> Path:
    explicit = os.environ.get("PBX_ENGINE_AUDIO_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pbx-engine" / "audio"


def speech_tools() -> tuple[str, str]:
    """Paths of espeak-ng and sox, or a clear error naming the package to install."""
    return (
        require_binary("espeak-ng", package="espeak-ng"),
        require_binary("sox", package="sox (and libsox-fmt-all)"),
    )


async def render(speech: Speech, encoding: Encoding = Encoding.SLIN16) -> Path:
    """The cached WAV file of `speech` in `encoding`, made now if it is not there yet."""
    key = hashlib.sha256(
        f"{_RECIPE}|{speech.voice}|{speech.wpm}|{speech.beep}|{encoding.value}|{speech.text}".encode()
    ).hexdigest()[:20]
    cached = cache_dir() / f"{key}.wav"
    if cached.exists():
        return cached
    espeak, sox = speech_tools()
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Unique names: two test runs (or two sandboxes) may make the same sound at once; the
    # final rename is atomic, so a reader sees the whole file or none.
    stem = cached.parent / f".{key}-{os.getpid()}-{secrets.token_hex(3)}"
    words, tone, made = (
        stem.with_suffix(".words.wav"),
        stem.with_suffix(".beep.wav"),
        stem.with_suffix(".wav"),
    )
    try:
        await run(
            [espeak, "-v", speech.voice, "-s", str(speech.wpm), "-w", str(words), speech.text],
            what="espeak-ng",
        )
        parts = [str(words)]
        if speech.beep:
            # espeak-ng writes 22050 Hz mono; sox concatenates only files of one rate.
            await run(
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
                ],
                what="sox (beep)",
            )
            parts.append(str(tone))
        await run(
            [
                sox,
                *parts,
                "-r",
                "8000",
                "-c",
                "1",
                "-e",
                encoding.value,
                *(["-b", "16"] if encoding is Encoding.SLIN16 else []),
                str(made),
            ],
            what="sox (convert)",
        )
        os.replace(made, cached)
    finally:
        for leftover in (words, tone, made):
            leftover.unlink(missing_ok=True)
    log.info("sandbox.sound_made", file=str(cached), chars=len(speech.text), encoding=encoding.name)
    return cached


async def _synth(name: str, effects: list[str], rate: int = 8000) -> Path:
    """A cached 16-bit mono WAV (8 kHz unless said) made by `sox -n` with these effects."""
    cached = cache_dir() / f"{name}-{rate}-{_RECIPE}.wav"
    if cached.exists():
        return cached
    _, sox = speech_tools()
    cached.parent.mkdir(parents=True, exist_ok=True)
    made = cached.parent / f".{name}-{os.getpid()}-{secrets.token_hex(3)}.wav"
    try:
        await run(
            [
                sox,
                "-n",
                "-r",
                str(rate),
                "-c",
                "1",
                "-e",
                "signed",
                "-b",
                "16",
                str(made),
                *effects,
            ],
            what=f"sox ({name})",
        )
        os.replace(made, cached)
    finally:
        made.unlink(missing_ok=True)
    return cached


async def tone(frequency: int, seconds: float = 60.0) -> Path:
    """A steady sine at `frequency` Hz (8 kHz 16-bit mono): a party tests can tell by ear
    (`tone_levels`) on the other side of a call."""
    return await _synth(
        f"tone-{frequency}-{seconds:g}",
        ["synth", f"{seconds:g}", "sine", str(frequency), "vol", "0.5"],
    )


async def microphone_tone(frequency: int, seconds: float = 60.0) -> Path:
    """The same at 48 kHz: what a browser's fake microphone plays (Chromium loops the file)."""
    return await _synth(
        f"tone-{frequency}-{seconds:g}",
        ["synth", f"{seconds:g}", "sine", str(frequency), "vol", "0.5"],
        rate=48000,
    )


async def hold_tone() -> Path:
    """A soft pulsing tone for music on hold (the music packages may not be installed)."""
    return await _synth(
        "hold-tone", ["synth", "8", "sine", "440", "tremolo", "1.5", "80", "vol", "0.25"]
    )


async def fax_tone() -> Path:
    """A fax machine's calling tone (CNG): 1100 Hz for 0.5 s every 3.5 s, for 35 s."""
    return await _synth(
        "fax-cng",
        ["synth", "0.5", "sine", "1100", "vol", "0.5", "pad", "0", "3", "repeat", "9"],
    )


async def install_sounds(directory: Path) -> dict[str, Path]:
    """Put every sound of SOUNDS (as `<name>.wav`), the hold tone and the fax tone into
    `directory`, the sandbox's ${SOUNDS}. Returns name -> path."""
    made = {name: await render(speech) for name, speech in SOUNDS.items()}
    made["hold-tone"] = await hold_tone()
    made["fax-cng"] = await fax_tone()
    return await asyncio.to_thread(_copy_into, directory, made)


def _copy_into(directory: Path, made: dict[str, Path]) -> dict[str, Path]:
    # Copies, not links: a sandbox may outlive a cache cleared meanwhile.
    installed = {}
    for name, source in made.items():
        target = directory / (HOLD_MUSIC if name == "hold-tone" else Path(f"{name}.wav"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        installed[name] = target
    return installed


def read_mono16(path: Path) -> tuple[int, Sequence[int]]:
    """The rate and samples of a 16-bit mono WAV (what the sandbox's phones record)."""
    import array
    import wave

    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        return wav.getframerate(), array.array("h", wav.readframes(wav.getnframes()))


def speech_onset(
    path: Path, *, threshold_dbfs: float = -35.0, frame_ms: int = 20
) -> tuple[float | None, float]:
    """When sound starts in a 16-bit mono WAV (seconds from its start; None: never), and how
    much of the file has sound (seconds): how tests tell a message was heard, and when."""
    import math

    rate, samples = read_mono16(path)
    size = max(1, rate * frame_ms // 1000)
    floor = 32768 * 10 ** (threshold_dbfs / 20)
    onset, loud = None, 0
    for index in range(0, len(samples) - size + 1, size):
        frame = samples[index : index + size]
        rms = math.sqrt(sum(s * s for s in frame) / size)
        if rms >= floor:
            loud += 1
            if onset is None:
                onset = index / rate
    return onset, loud * size / rate


def tone_levels(path: Path, frequency: float, *, window_ms: int = 100) -> list[float]:
    """The amplitude (0..32768) of one frequency in each window of a 16-bit mono WAV, by the
    Goertzel algorithm: how tests tell whose tone (each party sends its own) reached whom."""
    rate, samples = read_mono16(path)
    return _goertzel_levels(rate, samples, frequency, window_ms)


def tone_levels_so_far(path: Path, frequency: float, *, window_ms: int = 100) -> list[float]:
    """The same for a recording Asterisk is still writing: its header gives no sizes until
    the file is closed, so the samples after the 44-byte header are read as they are (8 kHz,
    as the sandboxes record)."""
    import array

    data = path.read_bytes()[44:]
    samples = array.array("h", data[: len(data) // 2 * 2])
    return _goertzel_levels(8000, samples, frequency, window_ms)


def _goertzel_levels(
    rate: int, samples: Sequence[int], frequency: float, window_ms: int
) -> list[float]:
    import math

    size = max(1, rate * window_ms // 1000)
    coefficient = 2 * math.cos(2 * math.pi * frequency / rate)
    levels = []
    for start in range(0, len(samples) - size + 1, size):
        previous = before = 0.0
        for sample in samples[start : start + size]:
            previous, before = sample + coefficient * previous - before, previous
        power = previous * previous + before * before - coefficient * previous * before
        levels.append(2 * math.sqrt(max(power, 0.0)) / size)
    return levels


def message_offset(
    recording: Path, message: Path, *, window_ms: int = 5, search_s: float = 3.0
) -> float:
    """Where `message` begins on `recording` (both 16-bit mono WAV at one rate), in seconds
    from the recording's start: the lag at which the two loudness envelopes match best.
    Negative when the recording began after the message had: its first seconds are missing,
    which an onset (never below 0) cannot tell."""
    import math

    def envelope(path: Path) -> tuple[int, list[float]]:
        rate, samples = read_mono16(path)
        size = max(1, rate * window_ms // 1000)
        return rate, [
            math.log10(1 + sum(s * s for s in samples[i : i + size]) / size)
            for i in range(0, len(samples) - size + 1, size)
        ]

    recording_rate, heard = envelope(recording)
    message_rate, played = envelope(message)
    if recording_rate != message_rate:
        raise ValueError(f"{recording} and {message}: different sample rates")
    span = int(search_s * 1000 / window_ms)
    played = played[: 2 * span]  # the first seconds hold the words to find

    def match(lag: int) -> float:
        # Pearson correlation of the message's envelope with the recording's, `lag` later.
        pairs = [(p, heard[k + lag]) for k, p in enumerate(played) if 0 <= k + lag < len(heard)]
        if len(pairs) < span // 2:
            return -1.0
        n = len(pairs)
        mean_p = sum(p for p, _ in pairs) / n
        mean_h = sum(h for _, h in pairs) / n
        cov = sum((p - mean_p) * (h - mean_h) for p, h in pairs)
        var_p = sum((p - mean_p) ** 2 for p, _ in pairs)
        var_h = sum((h - mean_h) ** 2 for _, h in pairs)
        return cov / math.sqrt(var_p * var_h) if var_p and var_h else -1.0

    best = max(range(-span, span + 1), key=match)
    return best * window_ms / 1000
