"""A labelled AMD corpus that does not flatter: `pbx-engine amd corpus DIR`.

Three labels, a folder each: `human/` (people answering: a short word, a name, a greeting with
a question, or two or three things said with the gaps of someone waiting for an answer),
`machine/` (personal voicemail greetings with pauses between their sentences, short greetings
like "Leave a message.", the carrier's own announcement, greetings over music) and `screened/`
(a phone's call-screening assistant asking who calls and why, then waiting). Six languages;
espeak-ng voices, speeds and pitches; lines that are quiet, hiss, carry other people's voices
(babble) or music; a GSM or AMR-NB codec pass; level and timing jitter.

Every file belongs to a template (its first sentence in its pool, `sentences.py`), and every
template to a split: `tune` (folds 0 and 1, what training and tuning may read; every
kind of greeting has templates in both) or `test` (the last
sentence of each pool, with voices tuning never uses: what no tuning may read).
`manifest.json` lists each file with its label, language, template, split, and when its first
utterance ends, so a detector's dead air after it can be measured.

Deterministic for a seed: the same seed makes the same files (sox runs without dither, `-D`,
which would add noise of its own at random).
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import json
import math
import random
import secrets
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

from pbx_engine.lab.amd.sentences import LANGUAGES, Pools
from pbx_engine.lab.sandbox.audio import cache_dir, speech_tools
from pbx_engine.lab.sandbox.process import run

RATE = 8000
LABELS = ("human", "machine", "screened")
TUNE_VOICES = ("", "+m3", "+f2", "+m7", "+klatt", "+f3")
TEST_VOICES = ("+f4", "+m5", "+klatt3", "+m2")
_RECIPE = "hard-2"  # part of the sentence cache's key: bump it when the rendering changes


@dataclass(frozen=True)
class Item:
    """One file to make: what is said, by which voice, on what kind of line."""

    label: str  # human | machine | screened
    kind: str  # short, repeat, greeting, short-greeting, carrier, music, screening
    language: str
    template: str  # "en/opener-3": the pool and index of its first sentence
    split: str  # tune | test
    fold: int  # 0 or 1 in tune (two-fold cross-validation by template), 2 in test
    sentences: tuple[str, ...]
    gaps_s: tuple[float, ...]  # silence between the sentences
    lead_s: float  # from the answer to the first word
    voice: str
    wpm: int
    pitch: int
    beep: bool
    background: str  # quiet | hiss | babble | music
    background_db: float  # its level under the speech (dB, negative)
    codec: str  # none | gsm | amr-nb
    gain_db: float


def _pick(rng: random.Random, pool: tuple[str, ...], test: bool) -> str:
    """A sentence from `pool`: its last one in the test split, any other in tuning."""
    return pool[-1] if test else rng.choice(pool[:-1])


def _templates(pools: Pools) -> list[tuple[str, str, int, tuple[str, ...]]]:
    """(label, pool name, index, pool) of every template of one language."""
    out = []
    for label, name in (
        ("human", "openers"),
        ("machine", "greetings"),
        ("machine", "short_greetings"),
        ("machine", "carrier"),
        ("screened", "screening"),
    ):
        pool = getattr(pools, name)
        out += [(label, name, index, pool) for index in range(len(pool))]
    return out


def plan_corpus(copies: int = 4, seed: int = 1) -> list[Item]:
    """`copies` files of every template of every language, each on its own line conditions."""
    rng = random.Random(seed)
    items = []
    for language, pools in LANGUAGES.items():
        for label, pool_name, index, pool in _templates(pools):
            test = index == len(pool) - 1
            for copy in range(copies):
                items.append(_plan_item(rng, language, pools, label, pool_name, index, test, copy))
    return items


def _plan_item(
    rng: random.Random,
    language: str,
    pools: Pools,
    label: str,
    pool_name: str,
    index: int,
    test: bool,
    copy: int,
) -> Item:
    first = getattr(pools, pool_name)[index]
    beep = False
    background = rng.choices(["quiet", "hiss", "babble"], weights=[35, 30, 35])[0]
    if label == "human":
        kind = "short" if copy % 2 == 0 else "repeat"
        sentences = [first]
        if kind == "repeat":  # waits for an answer, then asks again (once or twice)
            for _ in range(rng.choice((1, 1, 2))):
                sentences.append(_pick(rng, pools.follow_ups, test))
        gaps = [rng.uniform(0.9, 2.6) for _ in sentences[1:]]
        lead = rng.uniform(0.1, 1.2)
    elif pool_name == "greetings":
        kind = "music" if copy % 4 == 3 else "greeting"
        sentences = [first]
        if rng.random() < 0.7:
            sentences.append(_pick(rng, pools.middles, test))
        sentences.append(_pick(rng, pools.closers, test))
        gaps = [rng.uniform(0.15, 0.9) for _ in sentences[1:]]
        lead = rng.uniform(0.1, 1.2)
        beep = rng.random() < 0.7
        if kind == "music":
            background = "music"
    elif pool_name == "short_greetings":
        kind, sentences, gaps = "short-greeting", [first], []
        lead, beep = rng.uniform(0.1, 1.2), rng.random() < 0.9
    elif pool_name == "carrier":
        kind, sentences, gaps = "carrier", [first], []
        lead, beep = rng.uniform(0.1, 1.2), rng.random() < 0.85
    else:
        kind, sentences, gaps = "screening", [first], []
        lead = rng.uniform(0.1, 1.2)
    voices = TEST_VOICES if test else TUNE_VOICES
    return Item(
        label=label,
        kind=kind,
        language=language,
        template=f"{language}/{pool_name}-{index}",
        split="test" if test else "tune",
        fold=2 if test else index % 2,
        sentences=tuple(sentences),
        gaps_s=tuple(round(g, 2) for g in gaps),
        lead_s=round(lead, 2),
        voice=language + rng.choice(voices),
        wpm=rng.randint(130, 200),
        pitch=rng.randint(25, 75),
        beep=beep,
        background=background,
        background_db=round(rng.uniform(-32.0, -18.0), 1),
        codec=rng.choices(["none", "gsm", "amr-nb"], weights=[50, 25, 25])[0],
        gain_db=round(rng.uniform(-10.0, 4.0), 1),
    )


# -- rendering -------------------------------------------------------------------------------


def _read_wav(path: Path) -> array.array:
    with wave.open(str(path), "rb") as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    return samples


def _write_wav(path: Path, samples: array.array) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


async def _to_pcm(sox: str, source: Path, target: Path, *, what: str) -> None:
    """`source` as the corpus's 8 kHz 16-bit mono WAV (no dither: a seed makes the same files)."""
    await run(
        [
            sox,
            "-D",
            str(source),
            "-r",
            str(RATE),
            "-c",
            "1",
            "-e",
            "signed",
            "-b",
            "16",
            str(target),
        ],
        what=what,
    )


async def _sentence(text: str, voice: str, wpm: int, pitch: int) -> array.array:
    """The sentence spoken by espeak-ng, at 8 kHz, without the silence espeak adds around it."""
    espeak, sox = speech_tools()
    key = hashlib.sha256(f"{_RECIPE}|{voice}|{wpm}|{pitch}|{text}".encode()).hexdigest()[:20]
    cached = cache_dir() / "amd-corpus" / f"{key}.wav"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        # Names of this task's own: two files may need the same sentence at once.
        unique = secrets.token_hex(4)
        raw = cached.with_suffix(f".{unique}.espeak.wav")
        await run(
            [espeak, "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(raw), text],
            what="espeak-ng",
        )
        made = cached.with_suffix(f".{unique}.part.wav")
        await _to_pcm(sox, raw, made, what="sox (sentence)")
        made.replace(cached)
        raw.unlink(missing_ok=True)
    return _trimmed(_read_wav(cached))


def _trimmed(samples: array.array, threshold: int = 200) -> array.array:
    loud = [i for i in range(0, len(samples), 40) if abs(samples[i]) > threshold]
    if not loud:
        return samples
    return samples[max(0, loud[0] - 40) : loud[-1] + 80]


def _silence(seconds: float) -> array.array:
    return array.array("h", bytes(2 * int(seconds * RATE)))


def _beep(rng: random.Random) -> array.array:
    """An answering machine's beep: 0.3-1.0 s of a steady tone between 400 and 1500 Hz."""
    hz, seconds = rng.choice((440, 800, 1000, 1400)), rng.uniform(0.3, 1.0)
    n = int(seconds * RATE)
    return array.array("h", (int(12000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(n)))


def _rms(samples: array.array) -> float:
    if not samples:
        return 0.0
    step = 4
    picked = samples[::step]
    return math.sqrt(sum(s * s for s in picked) / len(picked))


async def _background(item: Item, rng: random.Random, length: int, level: float) -> list[float]:
    """The line's background, `length` samples at RMS `level`."""
    if item.background == "hiss":
        return [rng.gauss(0.0, level) for _ in range(length)]
    if item.background == "music":
        # Chords that change every half second, with a tremolo: not a steady tone the noise
        # floor would swallow.
        chords = ((220, 277, 330), (196, 247, 294), (175, 220, 262), (247, 311, 370))
        out = []
        for i in range(length):
            chord = chords[(i // (RATE // 2)) % len(chords)]
            swell = 0.6 + 0.4 * math.sin(2 * math.pi * 3 * i / RATE)
            out.append(swell * sum(math.sin(2 * math.pi * f * i / RATE) for f in chord))
        return _scaled(out, level)
    # Babble: other people's sentences, in any language, overlapping.
    out = [0.0] * length
    other = [lang for lang in LANGUAGES if lang != item.language] or [item.language]
    for _ in range(3):
        language = rng.choice(other)
        pools = LANGUAGES[language]
        text = rng.choice(pools.middles + pools.closers + pools.openers)
        voice = await _sentence(text, language + rng.choice(TUNE_VOICES), 170, 50)
        start = -rng.randrange(len(voice))
        while start < length:
            for j, sample in enumerate(voice):
                if 0 <= start + j < length:
                    out[start + j] += sample
            start += len(voice) + rng.randrange(RATE // 4)
    return _scaled(out, level)


def _scaled(samples: list[float], level: float) -> list[float]:
    rms = math.sqrt(sum(s * s for s in samples[::4]) / max(1, len(samples[::4]))) or 1.0
    return [s * level / rms for s in samples]


@dataclass(frozen=True)
class Made:
    path: Path
    item: Item
    first_utterance_end_s: float  # from the file's start
    speech_start_s: float
    duration_s: float


async def render_item(item: Item, target: Path, seed: int) -> Made:
    rng = random.Random(f"{seed}|{target.name}")
    parts = [_silence(item.lead_s)]
    first_end = item.lead_s
    for i, text in enumerate(item.sentences):
        if i:
            parts.append(_silence(item.gaps_s[i - 1]))
        spoken = await _sentence(text, item.voice, item.wpm, item.pitch)
        parts.append(spoken)
        if i == 0:
            first_end = item.lead_s + len(spoken) / RATE
    if item.beep:
        parts += [_silence(rng.uniform(0.1, 0.5)), _beep(rng)]
    parts.append(_silence(0.3))
    speech = array.array("h")
    for part in parts:
        speech.extend(part)
    mixed = [float(s) for s in speech]
    if item.background != "quiet":
        level = _rms(array.array("h", speech[int(item.lead_s * RATE) :])) or 3000.0
        noise = await _background(item, rng, len(mixed), level * 10 ** (item.background_db / 20))
        # The background runs from the answer (music from the greeting's start).
        start = int(item.lead_s * RATE) if item.background == "music" else 0
        for i in range(start, len(mixed)):
            mixed[i] += noise[i]
    gain = 10 ** (item.gain_db / 20)
    out = array.array("h", (max(-32767, min(32767, int(s * gain))) for s in mixed))
    await _write_through_codec(out, target, item.codec)
    return Made(target, item, round(first_end, 3), item.lead_s, round(len(out) / RATE, 3))


async def _write_through_codec(samples: array.array, target: Path, codec: str) -> None:
    if codec == "none":
        await asyncio.to_thread(_write_wav, target, samples)
        return
    _, sox = speech_tools()
    plain = target.with_suffix(".plain.wav")
    coded = target.with_suffix(".gsm" if codec == "gsm" else ".amr-nb")
    await asyncio.to_thread(_write_wav, plain, samples)
    try:
        await run([sox, "-D", str(plain), str(coded)], what=f"sox ({codec})")
        await _to_pcm(sox, coded, target, what=f"sox ({codec} back)")
    finally:
        plain.unlink(missing_ok=True)
        coded.unlink(missing_ok=True)


async def build_corpus(
    directory: Path, copies: int = 4, seed: int = 1, *, concurrency: int = 2, progress=None
) -> list[Made]:
    """Make the corpus into `directory` (a folder per label and `manifest.json`)."""
    for label in LABELS:
        await asyncio.to_thread((directory / label).mkdir, parents=True, exist_ok=True)
    items = plan_corpus(copies, seed)
    counters = dict.fromkeys(LABELS, 0)
    targets = []
    for item in items:
        name = f"{counters[item.label]:04d}-{item.template.replace('/', '-')}-{item.kind}.wav"
        counters[item.label] += 1
        targets.append(directory / item.label / name)
    gate = asyncio.Semaphore(concurrency)
    done = 0

    async def one(item: Item, target: Path) -> Made:
        nonlocal done
        async with gate:
            made = await render_item(item, target, seed)
        done += 1
        if progress:
            progress(done, len(items))
        return made

    made = await asyncio.gather(*(one(i, t) for i, t in zip(items, targets, strict=True)))
    manifest = [
        {
            "file": str(m.path.relative_to(directory)),
            **{k: v for k, v in asdict(m.item).items() if k != "sentences"},
            "text": " | ".join(m.item.sentences),
            "first_utterance_end_s": m.first_utterance_end_s,
            "speech_start_s": m.speech_start_s,
            "duration_s": m.duration_s,
        }
        for m in made
    ]
    text = json.dumps({"seed": seed, "copies": copies, "files": manifest}, ensure_ascii=False)
    await asyncio.to_thread((directory / "manifest.json").write_text, text, "utf-8")
    return list(made)
