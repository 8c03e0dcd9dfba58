"""What a pacing policy is shown (the floor now) and what it is told (calls that finished).

Times are seconds on the caller's monotonic clock; a policy only ever compares them, so the
simulator's clock and the live dialer's `time.monotonic()` serve equally.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class CallFate(StrEnum):
    """How a placed call ended, as far as pacing cares."""

    HUMAN = "human"  # a live person: connected to an agent or abandoned
    MACHINE = "machine"  # voicemail, hung up after the verdict
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rang until the ring timeout, or the far end gave up
    FAILED = "failed"  # rejected, unallocated, congestion: nothing was rung


@dataclass(frozen=True, slots=True)
class FloorState:
    """The campaign's floor at one moment.

    Each tuple holds one age per member, in seconds: how long each busy agent has been talking,
    how long each agent has been wrapping up, how long ago each ringing call was placed, how long
    each call has been under answering-machine detection, how long each live person has waited
    for an agent since the verdict.
    """

    now: float
    ready: int = 0
    in_call: tuple[float, ...] = ()
    wrap_up: tuple[float, ...] = ()
    paused: int = 0
    ringing: tuple[float, ...] = ()
    in_amd: tuple[float, ...] = ()
    waiting: tuple[float, ...] = ()

    @property
    def agents(self) -> int:
        """Agents who are working: ready, talking or wrapping up (not paused)."""
        return self.ready + len(self.in_call) + len(self.wrap_up)

    @property
    def in_flight(self) -> int:
        """Calls placed that no agent has yet: ringing, being screened, or waiting."""
        return len(self.ringing) + len(self.in_amd) + len(self.waiting)


@dataclass(frozen=True, slots=True)
class CallObserved:
    """A placed call is settled: its fate, and how long each stage took.

    `ring_seconds` runs from placing to answer (or to the end, unanswered); `amd_seconds` from
    answer to verdict, None when nothing answered. `abandoned` marks a live person who found
    no agent in time.
    """

    at: float
    fate: CallFate
    ring_seconds: float
    amd_seconds: float | None = None
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class HandleObserved:
    """An agent finished a call: talk time with the debtor, then wrap-up until ready again."""

    at: float
    talk_seconds: float
    wrap_seconds: float


Observation = CallObserved | HandleObserved


@dataclass(frozen=True, slots=True)
class CampaignHistory:
    """The campaign's calls on record over the regulator's abandon period, from before this
    policy was made: another engine's (which dialled the campaign until this one took it
    over) or this engine's before a restart. The abandon budget is the campaign's, not the
    process's: a policy that remembers them spends only what is left of it."""

    span: float = 0.0  # seconds from the period's first call to now
    calls: int = 0  # every call placed
    lives: int = 0  # people who answered: put through, or abandoned
    abandons: int = 0
    machines: int = 0  # AMD machine verdicts: a share of them may count as abandoned people
    last_hour: tuple[tuple[float, bool], ...] = ()  # (seconds ago, abandoned) of each live


@runtime_checkable
class Remembers(Protocol):
    """A policy whose abandon budget outlives its process (the predictive and adaptive ones)."""

    def remember(self, history: CampaignHistory, now: float) -> None: ...


class PacingPolicy(Protocol):
    """Decides how many new calls to place now; learns from what it is told."""

    name: str

    def observe(self, observation: Observation) -> None: ...

    def calls_to_place(self, floor: FloorState) -> int:
        """New calls to place at `floor.now`: never negative."""
        ...
