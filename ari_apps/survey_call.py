"""The survey a debtor hears when his agent ends the call: two or three questions answered on
the keypad, as a pure state machine (keys and silences in, prompts and answers out).

    start ──▶ ASKING(question 1) ──key──▶ ASKING(question 2) ──key──▶ … ──▶ thanks, DONE
                   │  a key the question does not take: "invalid", asked again (twice at most,
                   │  then the question is skipped and the next one asked)
                   └─ silence: asked again once; silent twice, he is not taking it: DONE

`pbx_engine.surveys.calls` carries the actions out (plays through ARI, hangs up). Each answer is
kept as it is given, so a debtor who hangs up halfway leaves the answers he gave.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Question:
    name: str  # how reports name it: "satisfied", "resolved"
    prompt: str  # ARI media: "sound:...", "recording:..."
    keys: str = "12345"  # the keys that answer it; the key is the score


@dataclass(frozen=True)
class Ask:
    """Play `media` (a key cuts it short), then wait for a key."""

    media: tuple[str, ...]


@dataclass(frozen=True)
class Keep:
    """An answer to keep: the question's name and the key pressed, as a score."""

    question: str
    score: int


@dataclass(frozen=True)
class Finish:
    """Play `media` to its end (nothing, when he is not there any more), then hang up."""

    media: tuple[str, ...]


Action = Ask | Keep | Finish


@dataclass
class CallSurvey:
    questions: tuple[Question, ...]
    intro: tuple[str, ...] = ()
    thanks: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ("sound:pm-invalid-option",)
    current: int = 0
    mistakes: int = 0
    silences: int = 0
    done: bool = False
    answers: dict[str, int] = field(default_factory=dict)

    MAX_MISTAKES = 2
    MAX_SILENCES = 2

    def start(self) -> list[Action]:
        if not self.questions:
            self.done = True
            return [Finish(())]
        return [Ask((*self.intro, self.questions[0].prompt))]

    def key(self, digit: str) -> list[Action]:
        if self.done:
            return []
        question = self.questions[self.current]
        if digit in question.keys and digit.isdigit():
            self.answers[question.name] = int(digit)
            return [Keep(question.name, int(digit)), *self._next()]
        self.mistakes += 1
        if self.mistakes >= self.MAX_MISTAKES:
            return self._next()
        return [Ask((*self.invalid, question.prompt))]

    def silence(self) -> list[Action]:
        if self.done:
            return []
        self.silences += 1
        if self.silences >= self.MAX_SILENCES:
            self.done = True  # nobody answering: not worth asking the rest
            return [Finish(())]
        return [Ask((self.questions[self.current].prompt,))]

    def hung_up(self) -> list[Action]:
        self.done = True
        return []

    def _next(self) -> list[Action]:
        self.current += 1
        self.mistakes = self.silences = 0
        if self.current >= len(self.questions):
            self.done = True
            return [Finish(self.thanks)]
        return [Ask((self.questions[self.current].prompt,))]
