"""One outbound call attempt: dial, wait for the answer, run AMD, settle the outcome.

`OutboundCall` is the state machine alone: it takes typed ARI events and returns the actions the
driver (`pbx_engine.dialer.service`) carries out. It does no I/O and reads no clock, so every path,
including events that arrive late or twice, is unit-tested without a PBX.

    DIALING ──Dial RINGING──▶ RINGING ──answer──▶ DETECTING ──StasisStart(amd,…)──▶ CONNECTED
       │                         │                    │                              │
       └──────────── ChannelDestroyed (busy, no answer, rejected, failed) ──────────┴─▶ ENDED

With the engine's own detector (`pbx_engine.amd.live`) the call stays in Stasis while the
engine listens, and the verdict arrives as an `AmdDecided` instead of that StasisStart; the
rest of the flow is the same.

The call is created in Stasis before it dials (`POST /channels/create` then `/dial`), so
Asterisk reports ringing and the answer as events about this channel. On the answer the channel
is continued into the AMD dialplan context, which sends it back into Stasis with the verdict as
arguments: `Stasis(app,amd,${AMDSTATUS},${AMDCAUSE})`. When a campaign leaves messages on
machines, a MACHINE call is continued into the message-drop context, which waits for the end of
the greeting, plays the message and comes back: `Stasis(app,message,${WAITSTATUS},START)`. With
the engine's detector the message is left from Stasis instead (`pbx_engine.dialer.connector`):
no `message` StasisStart comes, and the call simply ends once it has played.

A person no agent of this engine can take may be handed to another engine that has a ready
one (`handed`): the call ends here without being settled, and that engine writes its end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

import structlog

from ari_apps.outcomes import Outcome, classify_amd, classify_unanswered
from pbx_engine.amd.detectors import DetectorKind
from pbx_engine.ari.events import (
    ChannelDestroyed,
    ChannelStateChange,
    Dial,
    Event,
    StasisEnd,
    StasisStart,
)

log = structlog.get_logger(__name__)


class Phase(StrEnum):
    DIALING = "dialing"
    RINGING = "ringing"
    DETECTING = "detecting"
    CONNECTED = "connected"
    ENDED = "ended"


# Actions: what the driver must do next. Plain frozen dataclasses.
@dataclass(frozen=True)
class MarkRinging:
    at: datetime


@dataclass(frozen=True)
class MarkAnswered:
    at: datetime


@dataclass(frozen=True)
class RunAmd:
    """Continue the channel into the dialplan context that runs AMD()."""


@dataclass(frozen=True)
class Verdict:
    """AMD has spoken; the driver decides what the call is for (hang up, bridge an agent…)."""

    status: str
    cause: str
    outcome: Outcome
    at: datetime
    # Which kind of detector judged: the engine's keeps listening to a machine's greeting for
    # a message drop, the dialplan's leaves the message from the dialplan.
    heard_by: DetectorKind = DetectorKind.DIALPLAN


@dataclass(frozen=True)
class Finish:
    outcome: Outcome
    at: datetime
    cause: int | None
    cause_text: str | None
    # The engine the answered call was handed to (no agent here could take the person): it
    # puts him through and writes the call's end; nothing is settled here.
    handed_to: str | None = None


@dataclass(frozen=True)
class MessageLeft:
    """The message was played to a machine, after the greeting's end (or after waiting for it
    in vain: `greeting_ended` False); the driver records it and hangs up."""

    started_at: datetime | None
    at: datetime
    greeting_ended: bool


@dataclass(frozen=True)
class AmdDecided:
    """The engine's own detector has judged the call, in app_amd's words."""

    status: str
    cause: str
    type: ClassVar[str] = "AmdDecided"


Action = MarkRinging | MarkAnswered | RunAmd | Verdict | MessageLeft | Finish


class IllegalTransition(Exception):
    pass


@dataclass
class OutboundCall:
    channel_id: str
    phase: Phase = Phase.DIALING
    dial_status: str | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    verdict: Verdict | None = None
    settled_as: Outcome | None = None  # set by the driver, e.g. ABANDONED: no agent was free

    def handle(self, event: Event | AmdDecided, now: datetime) -> list[Action]:
        """Feed one event about this call; returns the actions it calls for."""
        before = self.phase
        actions = self._dispatch(event, now)
        if self.phase is not before:
            log.info("call.transition", frm=before.value, to=self.phase.value, on=event.type)
        return actions

    def _dispatch(self, event: Event | AmdDecided, now: datetime) -> list[Action]:
        if self.phase is Phase.ENDED:
            return []  # Late events (a Dial END after the destroy) change nothing.
        if isinstance(event, AmdDecided):
            return self._judged(event.status, event.cause, now, DetectorKind.ENGINE)
        if isinstance(event, ChannelDestroyed):
            return self._destroyed(event, now)
        if isinstance(event, Dial):
            return self._dial(event, now)
        if isinstance(event, ChannelStateChange):
            if event.channel.state == "Ringing" and self.phase is Phase.DIALING:
                return self._ringing(now)
            if event.channel.state == "Up":
                return self._answered(now)
            return []
        if isinstance(event, StasisStart):
            return self._stasis_start(event, now)
        if isinstance(event, StasisEnd):
            return []  # Leaving Stasis for the AMD context is expected.
        return []

    def _dial(self, event: Dial, now: datetime) -> list[Action]:
        status = (event.dialstatus or "").upper()
        if status:
            self.dial_status = status
        if status in ("RINGING", "PROGRESS") and self.phase is Phase.DIALING:
            return self._ringing(now)
        if status == "ANSWER":
            return self._answered(now)
        return []

    def _ringing(self, now: datetime) -> list[Action]:
        self.phase = Phase.RINGING
        self.ringing_at = now
        return [MarkRinging(now)]

    def _answered(self, now: datetime) -> list[Action]:
        # Both the Dial ANSWER and the state change to Up announce the answer; act on the first.
        if self.phase not in (Phase.DIALING, Phase.RINGING):
            return []
        self.phase = Phase.DETECTING
        self.answered_at = now
        return [MarkAnswered(now), RunAmd()]

    def _stasis_start(self, event: StasisStart, now: datetime) -> list[Action]:
        args = list(event.args)
        if args and args[0] == "message":
            return self._message_left(args, now)
        if not args or args[0] != "amd":
            return []  # The StasisStart of the channel's creation.
        status = args[1] if len(args) > 1 else "NOTSURE"
        cause = args[2] if len(args) > 2 else ""
        return self._judged(status, cause, now, DetectorKind.DIALPLAN)

    def _judged(
        self, status: str, cause: str, now: datetime, heard_by: DetectorKind
    ) -> list[Action]:
        if self.phase is not Phase.DETECTING:
            raise IllegalTransition(f"AMD verdict in phase {self.phase.value}")
        self.phase = Phase.CONNECTED
        outcome = classify_amd(status, cause)
        self.verdict = Verdict(
            status=status, cause=cause, outcome=outcome, at=now, heard_by=heard_by
        )
        return [self.verdict]

    def _message_left(self, args: list[str], now: datetime) -> list[Action]:
        if self.phase is not Phase.CONNECTED or self.verdict is None:
            raise IllegalTransition(f"a message left in phase {self.phase.value}")
        started_at = None
        if len(args) > 2:
            try:
                started_at = datetime.fromtimestamp(float(args[2]), tz=now.tzinfo)
            except (ValueError, OverflowError):
                started_at = None
        greeting_ended = len(args) > 1 and args[1].upper() == "SILENCE"
        return [MessageLeft(started_at=started_at, at=now, greeting_ended=greeting_ended)]

    def lost(self, now: datetime, ring_timeout: float | None = None) -> list[Action]:
        """The channel vanished without a ChannelDestroyed (Asterisk restarted, events lost).

        Its cause is unknown. A line that rang, unanswered, for at least `ring_timeout` (the
        timeout its dial was given, after which Asterisk ends it) counts as not answered;
        any other unanswered call as failed."""
        if self.phase is Phase.ENDED:
            return []
        if self.answered_at:
            outcome = self._answered_outcome()
        elif self._rang_out(now, ring_timeout):
            outcome = Outcome.NO_ANSWER
        else:
            outcome = Outcome.FAILED
        self.phase = Phase.ENDED
        return [Finish(outcome=outcome, at=now, cause=None, cause_text="channel lost")]

    def _rang_out(self, now: datetime, ring_timeout: float | None) -> bool:
        if self.phase is not Phase.RINGING or self.ringing_at is None or ring_timeout is None:
            return False
        return (now - self.ringing_at).total_seconds() >= ring_timeout

    def handed(self, engine: str, now: datetime) -> list[Action]:
        """The person, judged, was handed to another engine, whose agent takes him: this
        engine's part of the call is over (its end is the other engine's to write)."""
        if self.phase is not Phase.CONNECTED:
            raise IllegalTransition(f"a call handed over in phase {self.phase.value}")
        self.phase = Phase.ENDED
        return [
            Finish(
                outcome=self._answered_outcome(),
                at=now,
                cause=None,
                cause_text=f"handed to engine {engine}",
                handed_to=engine,
            )
        ]

    def settle_as(self, outcome: Outcome) -> None:
        """What the answered call turned out to be, beyond AMD's word (an abandoned call)."""
        if self.answered_at is None:
            raise IllegalTransition(f"{outcome.value} for a call that was never answered")
        self.settled_as = outcome

    def _answered_outcome(self) -> Outcome:
        if self.settled_as is not None:
            return self.settled_as
        if self.verdict is not None:
            return self.verdict.outcome
        # Answered, then gone before AMD could decide: someone hung up on the greeting; count
        # it as a person, who heard nothing from us.
        return Outcome.HUMAN

    def _destroyed(self, event: ChannelDestroyed, now: datetime) -> list[Action]:
        if self.answered_at is not None:
            outcome = self._answered_outcome()
        else:
            outcome = classify_unanswered(event.cause, self.dial_status)
        self.phase = Phase.ENDED
        return [Finish(outcome=outcome, at=now, cause=event.cause, cause_text=event.cause_txt)]
