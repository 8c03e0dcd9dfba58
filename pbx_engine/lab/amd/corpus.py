"""A labelled corpus for AMD: `DIR/human/*.wav` and `DIR/machine/*.wav`, made with espeak-ng
and sox (`pbx-engine amd corpus DIR`). People answer in one to seven words, then listen;
voicemail greetings run for several seconds, with or without a beep. Six languages, voices
from espeak-ng's variants, three speeds, three levels of background noise. Deterministic for a
seed, so two runs of the benchmark hear the same files."""

from __future__ import annotations

import asyncio
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from pbx_engine.lab.sandbox.audio import Speech, render, speech_tools
from pbx_engine.lab.sandbox.process import run

PEOPLE: dict[str, list[str]] = {
    "en": ["Hello?", "Yes?", "Hello, John speaking.", "Hi, this is Anna, who is calling?"],
    "pl": ["Halo?", "Tak?", "Halo, słucham.", "Dzień dobry, tu Anna, kto mówi?"],
    "bg": ["Ало?", "Да?", "Ало, слушам ви.", "Добър ден, Мария е, кой се обажда?"],
    "es": ["¿Diga?", "¿Sí?", "Hola, habla Juan.", "Buenas tardes, soy Ana, ¿quién llama?"],
    "de": ["Hallo?", "Ja?", "Hallo, Müller hier.", "Guten Tag, hier ist Anna, wer spricht?"],
    "ru": ["Алло?", "Да?", "Алло, слушаю.", "Добрый день, это Анна, кто говорит?"],
}
MACHINES: dict[str, list[str]] = {
    "en": [
        "Hi, you have reached John. I can't take your call right now. Please leave a message "
        "after the tone and I will get back to you.",
        "The person you are calling is not available. Please leave your name and number.",
    ],
    "pl": [
        "Dzień dobry, dodzwoniłeś się do Anny. Nie mogę teraz odebrać. Zostaw wiadomość po "
        "sygnale, oddzwonię.",
        "Abonent jest chwilowo niedostępny. Prosimy zostawić wiadomość po sygnale.",
    ],
    "bg": [
        "Здравейте, свързахте се с Мария. В момента не мога да отговоря. Оставете съобщение "
        "след сигнала.",
        "Абонатът не може да отговори. Моля, оставете съобщение след сигнала.",
    ],
    "es": [
        "Hola, has llamado a Juan. Ahora no puedo atenderte. Deja tu mensaje después de la "
        "señal y te llamaré.",
        "El número al que llama no está disponible. Deje su mensaje después de la señal.",
    ],
    "de": [
        "Hallo, hier ist der Anrufbeantworter von Anna Müller. Ich bin gerade nicht erreichbar. "
        "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
        "Der gewünschte Gesprächspartner ist nicht erreichbar. Bitte sprechen Sie nach dem Ton.",
    ],
    "ru": [
        "Здравствуйте, вы позвонили Анне. Сейчас я не могу ответить. Оставьте сообщение после "
        "сигнала.",
        "Абонент временно недоступен. Пожалуйста, оставьте сообщение после сигнала.",
    ],
}
VARIANTS = ["", "+m3", "+f2", "+m7", "+f4"]
SPEEDS = [140, 165, 190]
NOISE_DB = [None, -40.0, -30.0]  # background noise level (dBFS); None: a quiet line


@dataclass(frozen=True)
class Item:
    label: str  # human | machine
    language: str
    text: str
    voice: str
    wpm: int
    beep: bool
    noise_db: float | None

    def stem(self, index: int) -> str:
        noise = "quiet" if self.noise_db is None else f"noise{int(-self.noise_db)}"
        beep = "-beep" if self.beep else ""
        return f"{index:03d}-{self.language}-{self.wpm}wpm-{noise}{beep}"


def plan_corpus(per_label: int, seed: int = 1) -> list[Item]:
    """The items to make: `per_label` people and as many machines, spread over languages,
    short and long openings, voices, speeds and noise."""
    rng = random.Random(seed)
    items = []
    languages = list(PEOPLE)
    for label, texts in (("human", PEOPLE), ("machine", MACHINES)):
        for i in range(per_label):
            language = languages[i % len(languages)]
            choices = texts[language]
            text = choices[(i // len(languages)) % len(choices)]
            items.append(
                Item(
                    label=label,
                    language=language,
                    text=text,
                    voice=language + rng.choice(VARIANTS),
                    wpm=rng.choice(SPEEDS),
                    beep=label == "machine" and rng.random() < 0.6,
                    noise_db=rng.choice(NOISE_DB),
                )
            )
    return items


async def build_corpus(directory: Path, per_label: int = 60, seed: int = 1) -> list[Path]:
    """Make the corpus into `directory` (`human/`, `machine/`); returns the files."""
    _, sox = speech_tools()
    made = []
    for label in ("human", "machine"):
        await asyncio.to_thread((directory / label).mkdir, parents=True, exist_ok=True)
    counters = {"human": 0, "machine": 0}
    for item in plan_corpus(per_label, seed):
        speech = await render(Speech(item.text, voice=item.voice, wpm=item.wpm, beep=item.beep))
        target = directory / item.label / f"{item.stem(counters[item.label])}.wav"
        counters[item.label] += 1
        if item.noise_db is None:
            await asyncio.to_thread(shutil.copyfile, speech, target)
        else:
            # Noise under the whole file, as a line from a street or a car has: the speech
            # mixed with white noise of its own length (made by a second sox through a pipe).
            gain = 10 ** (item.noise_db / 20)
            noise = f"|{sox} {speech} -p synth whitenoise vol {gain:.4f}"
            await run([sox, "-m", str(speech), noise, str(target)], what="sox (corpus noise)")
        made.append(target)
    return made
