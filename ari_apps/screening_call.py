"""After a machine's greeting: leave the message, or find out whether a call-screening assistant
took the call and wait for the person behind it.

Phones screen calls from unknown numbers: an assistant answers, asks who is calling and why,
and lets its owner decide. To a detector its prompt is a machine's greeting, and by timing alone
it is hard to tell from a voicemail greeting without a beep (both end in silence). What tells
them apart is behaviour: a voicemail box records in silence, an assistant answers back ("Thanks,
please stay on the line") once it has been told who calls. So a campaign with a `[screening]`
section answers every greeting that ends without a beep with its identity line (who calls and
how to call back: the limited-content message, as fit for a voicemail as for an assistant), then
listens. Speech in reply means an assistant: the call is marked screened, and the person is
awaited for a while (his "Hello?" puts him through to an agent, with the abandon guard); silence
means a voicemail box, which has now got the identity line as its message.

    GREETING ──beep──▶ machine message? ──played──▶ DONE (machine)
        │                  └── none ────────────────▶ DONE (machine)
        └──silence, or the cap──▶ LINE ──played──▶ REPLY ──silence for `reply_window`──▶ DONE
                                                     │                          (machine)
                                                     └──speech──▶ screened ──▶ PERSON
    PERSON ──a person's greeting (HUMAN, after silence)──▶ put through
       └──nobody by `wait_for_person` after the line──▶ DONE (screened)

Without a `[screening]` section the greeting's end plays the machine message whatever ended it,
as before. Pure: the driver (`pbx_engine.dialer.connector`) plays, listens, and passes the
loop's clock in; every path is unit-tested without a PBX.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ari_apps.outcomes import Outcome


@dataclass(frozen=True)
class ScreeningPolicy:
    """A campaign's answer to call screening."""

    identity_line: str  # a sound: who calls and how to call back
    wait_for_person: float = 20.0  # seconds after the line; 0: hang up once screened
    reply_window: float = 8.0  # seconds of silence after the line that mean a voicemail box


class Step(StrEnum):
    GREETING = "greeting"  # the machine's greeting plays
    MESSAGE = "message"  # the machine message plays (after a beep, or with no screening)
    LINE = "line"  # the identity line plays
    REPLY = "reply"  # listening for an assistant's reply
    PERSON = "person"  # screened: listening for the person
    DONE = "done"


# What the driver is asked to do.
@dataclass(frozen=True)
class PlaySound:
    sound: str


@dataclass(frozen=True)
class Listen:
    """Listen to the line for one verdict (a greeting judged, or silence) until `until`
    (the loop's clock)."""

    until: float


@dataclass(frozen=True)
class MarkScreened:
    """An assistant answered back: the call is on record as screened from now."""


@dataclass(frozen=True)
class PutThrough:
    """The person came to the phone: put him through as any person judged HUMAN."""


@dataclass(frozen=True)
class HangUp:
    outcome: Outcome


Action = PlaySound | Listen | MarkScreened | PutThrough | HangUp

SILENT_CAUSE = "INITIALSILENCE"  # a listening that heard nothing says MACHINE with this cause
# A person's greeting begins after some silence in the listening that judges it; speech from
# its first moments is the rest of what was being said when it began (the assistant's "Thanks.
# ... Please stay on the line." heard in two listenings).
FRESH_SPEECH_MS = 200


class IllegalStep(Exception):
    pass


@dataclass
class AfterGreeting:
    """What follows a MACHINE verdict once the greeting is over, for one call."""

    machine_message: str | None
    screening: ScreeningPolicy | None
    step: Step = Step.GREETING
    screened: bool = False
    line_ended_at: float | None = None

    def greeting_ended(self, beep: bool) -> list[Action]:
        self._expect(Step.GREETING)
        if self.screening is not None and not beep:
            self.step = Step.LINE
            return [PlaySound(self.screening.identity_line)]
        if self.machine_message:
            self.step = Step.MESSAGE
            return [PlaySound(self.machine_message)]
        return self._done(Outcome.MACHINE)

    def played(self, now: float) -> list[Action]:
        """The sound asked for has played to its end."""
        if self.step is Step.MESSAGE:
            return self._done(Outcome.MACHINE)
        self._expect(Step.LINE)
        assert self.screening is not None
        self.step = Step.REPLY
        self.line_ended_at = now
        return [Listen(until=now + self.screening.reply_window)]

    def heard(
        self, status: str, cause: str, now: float, onset_ms: int | None = None
    ) -> list[Action]:
        """A listening's verdict (app_amd's words): speech judged, or silence; `onset_ms`:
        when the speech began in it (None: not known)."""
        if self.step not in (Step.REPLY, Step.PERSON):
            raise IllegalStep(f"a reply heard in step {self.step.value}")
        assert self.screening is not None and self.line_ended_at is not None
        spoke = not (status == "MACHINE" and cause.upper().startswith(SILENT_CAUSE))
        if self.step is Step.REPLY:
            if spoke:
                return self._screened(now)
            if now >= self.line_ended_at + self.screening.reply_window:
                return self._done(Outcome.MACHINE)  # a voicemail box, recording in silence
            return [Listen(until=self.line_ended_at + self.screening.reply_window)]
        fresh = onset_ms is None or onset_ms >= FRESH_SPEECH_MS
        if spoke and status == "HUMAN" and fresh:
            self.step = Step.DONE
            return [PutThrough()]
        return self._wait_for_person(now)

    def _screened(self, now: float) -> list[Action]:
        self.screened = True
        self.step = Step.PERSON
        return [MarkScreened(), *self._wait_for_person(now)]

    def _wait_for_person(self, now: float) -> list[Action]:
        assert self.screening is not None and self.line_ended_at is not None
        deadline = self.line_ended_at + self.screening.wait_for_person
        if now >= deadline:
            return self._done(Outcome.SCREENED)
        return [Listen(until=deadline)]

    def _done(self, outcome: Outcome) -> list[Action]:
        self.step = Step.DONE
        return [HangUp(outcome)]

    def _expect(self, step: Step) -> None:
        if self.step is not step:
            raise IllegalStep(f"expected step {step.value}, in {self.step.value}")
