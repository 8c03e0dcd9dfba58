"""The live floor, shown to a pacing policy exactly as the simulator shows it.

`LivePacing` gathers the campaign's agents (from the agent service, and those other engines
hold) and its calls in flight (the progress records of the calls it is told were placed) into a
`FloorState`, and tells the policy what it would be told in a simulated shift: each call's fate
with its ring and AMD times the moment it is settled (a live person as soon as he is put through
or abandoned), and each finished conversation's talk and wrap-up times. Time is the event loop's
clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from ari_apps.outcomes import Outcome
from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState
from pbx_engine.dialer.elsewhere import AgentsElsewhere, states_elsewhere
from pbx_engine.dialer.service import CallProgress, CallResult, PlacedCall
from pbx_engine.pacing import (
    CallFate,
    CallObserved,
    CampaignHistory,
    FloorState,
    HandleObserved,
    PacingPolicy,
    Remembers,
)
from pbx_engine.storage.campaigns import CampaignCalls

log = structlog.get_logger(__name__)

_FATES = {
    Outcome.HUMAN: CallFate.HUMAN,
    Outcome.ABANDONED: CallFate.HUMAN,
    Outcome.MACHINE: CallFate.MACHINE,
    Outcome.SCREENED: CallFate.MACHINE,  # the person did not come: nobody was put through
    Outcome.SILENCE: CallFate.MACHINE,  # answered, nobody to put through
    Outcome.FAX: CallFate.MACHINE,
    Outcome.BUSY: CallFate.BUSY,
    Outcome.NO_ANSWER: CallFate.NO_ANSWER,
    Outcome.REJECTED: CallFate.FAILED,
    Outcome.FAILED: CallFate.FAILED,
}


def fate_of(outcome: Outcome) -> CallFate | None:
    """A call's fate for pacing; None for calls that tell nothing (cancelled by us, or never
    placed)."""
    return _FATES.get(outcome)


def observation_of(progress: CallProgress, outcome: Outcome) -> CallObserved | None:
    """What a settled call teaches a policy."""
    fate = fate_of(outcome)
    if fate is None:
        return None
    end = progress.handed_over_at or progress.ended_at or progress.placed_at
    if progress.answered_at is None:
        return CallObserved(end, fate, end - progress.placed_at)
    amd = (progress.verdict_at or end) - progress.answered_at
    return CallObserved(
        end,
        fate,
        progress.answered_at - progress.placed_at,
        amd,
        abandoned=progress.abandoned or outcome is Outcome.ABANDONED,
    )


def history_of(calls: CampaignCalls) -> CampaignHistory:
    """What the campaign's calls on record mean to a policy's abandon budget."""
    lives = abandons = machines = placed = 0
    for outcome, count in calls.by_outcome.items():
        try:
            fate = fate_of(Outcome(outcome))
        except ValueError:
            continue  # an outcome this engine no longer knows
        if fate is None:
            continue
        placed += count
        if fate is CallFate.HUMAN:
            lives += count
            abandons += count if outcome == Outcome.ABANDONED.value else 0
        elif fate is CallFate.MACHINE:
            machines += count
    return CampaignHistory(
        span=calls.span,
        calls=placed,
        lives=lives,
        abandons=abandons,
        machines=machines,
        last_hour=calls.last_hour_lives,
    )


class LivePacing:
    def __init__(
        self,
        policy: PacingPolicy,
        agents: AgentService,
        logins: set[str] | None,
        *,
        clock: Callable[[], float] | None = None,
        elsewhere: AgentsElsewhere | None = None,
    ) -> None:
        self.policy = policy
        self._agents = agents
        self._logins = logins
        self._elsewhere = elsewhere  # other engines' agents (None: this engine's only)
        self._clock = clock or asyncio.get_running_loop().time
        self._calls: dict[str, CallProgress] = {}  # channel -> progress, until observed
        # Persons handed to another engine, until the record says whether he was abandoned.
        self._handed: dict[str, CallProgress] = {}
        agents.on_call_handled(self._handled)

    def remember(self, history: CampaignHistory) -> None:
        """The campaign's calls before this pacing began count against its abandon budget
        (policies without one have nothing to remember)."""
        if isinstance(self.policy, Remembers):
            self.policy.remember(history, self._clock())

    def _ours(self, login: str) -> bool:
        return self._logins is None or login in self._logins

    def _handled(self, login: str, talk_seconds: float, wrap_seconds: float) -> None:
        if self._ours(login):
            self.policy.observe(HandleObserved(self._clock(), talk_seconds, wrap_seconds))

    def track(self, call: PlacedCall) -> None:
        """A call this campaign has just placed."""
        self._calls[call.channel_id] = call.progress

    def settle(self, channel_id: str, result: CallResult | None) -> None:
        """A tracked call has ended (result None: it crashed, and teaches nothing)."""
        progress = self._calls.pop(channel_id, None)
        if progress is not None and progress.handed_to is not None:
            self._handed[channel_id] = progress  # its fate is the other engine's to write
            return
        if progress is None or result is None:
            return
        observation = observation_of(progress, result.outcome)
        if observation is not None:
            self.policy.observe(observation)

    def handed_pending(self) -> list[str]:
        """The channels of persons handed to another engine whose fate is not known yet."""
        return list(self._handed)

    def handed_settled(self, channel_id: str, abandoned: bool) -> None:
        """The record says what became of a person handed to another engine: put through
        there, or abandoned (which spends this campaign's budget like one abandoned here)."""
        progress = self._handed.pop(channel_id, None)
        if progress is None:
            return
        progress.abandoned = abandoned
        outcome = Outcome.ABANDONED if abandoned else Outcome.HUMAN
        observation = observation_of(progress, outcome)
        if observation is not None:
            self.policy.observe(observation)

    def _observe_handovers(self) -> None:
        """A person put through (or abandoned) is learned from at once, not when he hangs up;
        one handed to another engine once the record says which."""
        for channel_id, progress in list(self._calls.items()):
            if progress.handed_to is not None:
                continue
            if progress.handed_over_at is not None and progress.verdict is Outcome.HUMAN:
                del self._calls[channel_id]
                outcome = Outcome.ABANDONED if progress.abandoned else Outcome.HUMAN
                observation = observation_of(progress, outcome)
                if observation is not None:
                    self.policy.observe(observation)

    def floor(self) -> FloorState:
        now = self._clock()
        wall = datetime.now(UTC)
        agents = [
            (agent.state, (wall - agent.since).total_seconds() if agent.since else 0.0)
            for agent in self._agents.all()
            if self._ours(agent.login)
        ]
        if self._elsewhere is not None:
            # The campaign's agents other engines hold: a person they can take is handed there.
            agents += states_elsewhere(self._elsewhere.agents, self._logins, wall)
        ready, paused = 0, 0
        in_call: list[float] = []
        wrap_up: list[float] = []
        for state, age in agents:
            match state:
                case AgentState.READY:
                    ready += 1
                case AgentState.RESERVED:
                    in_call.append(0.0)  # claimed for a call this instant
                case AgentState.ON_CALL:
                    in_call.append(age)
                case AgentState.WRAP_UP:
                    wrap_up.append(age)
                case AgentState.PAUSED:
                    paused += 1
        ringing: list[float] = []
        in_amd: list[float] = []
        waiting: list[float] = []
        for progress in self._calls.values():
            if progress.ended_at is not None or progress.handed_over_at is not None:
                continue
            if progress.verdict_at is not None:
                if progress.verdict is Outcome.HUMAN:
                    waiting.append(now - progress.verdict_at)
            elif progress.answered_at is not None:
                in_amd.append(now - progress.answered_at)
            else:
                ringing.append(now - progress.placed_at)
        return FloorState(
            now=now,
            ready=ready,
            in_call=tuple(in_call),
            wrap_up=tuple(wrap_up),
            paused=paused,
            ringing=tuple(ringing),
            in_amd=tuple(in_amd),
            waiting=tuple(waiting),
        )

    def calls_to_place(self) -> int:
        self._observe_handovers()
        floor = self.floor()
        wanted = self.policy.calls_to_place(floor)
        if wanted:
            log.debug(
                "pacing.decision",
                policy=self.policy.name,
                wanted=wanted,
                ready=floor.ready,
                in_flight=floor.in_flight,
            )
        return wanted
