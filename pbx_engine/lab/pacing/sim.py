"""A discrete-event simulator of a predictive-dialing shift, for any pacing policy.

The policy sees exactly what the live dialer shows it: a `FloorState` every tick, and a
`CallObserved` / `HandleObserved` whenever a call settles or an agent finishes one. Nothing of
the scenario's true rates reaches it. Calls follow the scenario: each dial is a live person,
a machine, busy, or no answer by the rates at the moment it is placed; an answered call rings
for a drawn time (past the ring timeout it counts as no answer), AMD takes `amd_seconds`, and a
live person who finds no agent within the grace (2 s) after the verdict is abandoned.
Agents talk, wrap up, and are ready again; the longest-waiting person gets the next free agent.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from dataclasses import dataclass, field
from itertools import count

from pbx_engine.lab.pacing.scenario import RateSchedule, Scenario
from pbx_engine.pacing.floor import CallFate, CallObserved, FloorState, HandleObserved
from pbx_engine.pacing.policies import make_policy

BUSY_SECONDS = 1.0  # "busy at once": the network's answer takes about a second
BUCKET_SECONDS = 900.0  # the timeline's resolution: 15 minutes

# event kinds, in the heap as small ints for speed
_TICK, _RESOLVE, _VERDICT, _GIVE_UP, _TALK_END, _WRAP_END = range(6)


@dataclass
class Bucket:
    """One 15-minute slice of the shift."""

    start: float
    talk_seconds: float = 0.0
    placed: int = 0
    lives: int = 0
    abandons: int = 0


@dataclass
class ShiftResult:
    policy: str
    seed: int
    agents: int
    duration: float
    talk_seconds: float = 0.0
    calls_placed: int = 0
    lives: int = 0
    abandons: int = 0
    connects: int = 0
    machines: int = 0
    agent_wait_seconds: float = 0.0  # agents ready with nothing to do
    timeline: list[Bucket] = field(default_factory=list)

    @property
    def occupancy(self) -> float:
        logged_in = self.agents * self.duration
        return self.talk_seconds / logged_in if logged_in else 0.0

    @property
    def abandon_rate(self) -> float:
        return self.abandons / self.lives if self.lives else 0.0

    @property
    def connects_per_agent_hour(self) -> float:
        hours = self.agents * self.duration / 3600.0
        return self.connects / hours if hours else 0.0

    @property
    def mean_agent_wait(self) -> float:
        return self.agent_wait_seconds / self.connects if self.connects else 0.0

    def hourly_abandon_rates(self) -> list[float]:
        per_hour: dict[int, list[int]] = {}
        for bucket in self.timeline:
            lives_abandons = per_hour.setdefault(int(bucket.start // 3600), [0, 0])
            lives_abandons[0] += bucket.lives
            lives_abandons[1] += bucket.abandons
        return [a / n if n else 0.0 for n, a in per_hour.values()]

    @property
    def max_hourly_abandon_rate(self) -> float:
        return max(self.hourly_abandon_rates(), default=0.0)


def _bucket_at(buckets: list[Bucket], t: float) -> Bucket:
    return buckets[min(int(t // BUCKET_SECONDS), len(buckets) - 1)]


def _count_talk(result: ShiftResult, start: float, end: float) -> None:
    """Add talk from `start` to `end` to the shift and to each 15-minute slice it spans."""
    result.talk_seconds += end - start
    while start < end:
        bucket = _bucket_at(result.timeline, start)
        stop = min(end, bucket.start + BUCKET_SECONDS)
        if stop <= start:
            break
        bucket.talk_seconds += stop - start
        start = stop


def _timeline(duration: float) -> list[Bucket]:
    return [Bucket(start=i * BUCKET_SECONDS) for i in range(int(-(-duration // BUCKET_SECONDS)))]


class _Call:
    __slots__ = ("fate", "placed_at", "ring", "answered_at")

    def __init__(self, fate: CallFate, placed_at: float, ring: float) -> None:
        self.fate = fate
        self.placed_at = placed_at
        self.ring = ring
        self.answered_at = 0.0


def simulate(scenario: Scenario, policy_name: str, seed: int | None = None) -> ShiftResult:
    """Run one shift of `scenario` under a fresh policy called `policy_name`."""
    campaign = scenario.campaign
    seed = campaign.seed if seed is None else seed
    duration = campaign.duration_seconds
    policy = make_policy(
        policy_name,
        abandon_target=campaign.abandon_target,
        dial_level=campaign.dial_level,
        max_lines=campaign.max_lines,
        shift_end=duration,
    )
    return _Shift(scenario, policy, seed).run()


class _Shift:
    def __init__(self, scenario: Scenario, policy, seed: int) -> None:
        self.scenario = scenario
        self.policy = policy
        campaign = scenario.campaign
        self.duration = campaign.duration_seconds
        self.amd = campaign.amd_seconds
        self.grace = campaign.abandon_grace_seconds
        self.ring_timeout = campaign.ring_timeout_seconds
        self.tick = campaign.tick_seconds
        calls_rng = random.Random(seed * 7919 + 1)
        agents_rng = random.Random(seed * 7919 + 2)
        self.uniform = calls_rng.random
        population = scenario.population
        self.human = RateSchedule(population.human_rate)
        self.machine = RateSchedule(population.machine_rate)
        self.busy = RateSchedule(population.busy_rate)
        self.draw_ring = population.ring_seconds.sampler(calls_rng)
        self.draw_talk = scenario.agents.talk_seconds.sampler(agents_rng)
        self.draw_wrap = scenario.agents.wrap_seconds.sampler(agents_rng)

        self.events: list[tuple[float, int, int, int]] = []
        self.seq = count()
        self.calls: dict[int, _Call] = {}
        self.call_ids = count()
        self.ringing: dict[int, float] = {}  # call -> placed at
        self.in_amd: dict[int, float] = {}  # call -> answered at
        self.waiting: deque[tuple[int, float]] = deque()  # (call, verdict at), oldest first
        n = scenario.agents.count
        self.ready: deque[int] = deque(range(n))  # longest idle first
        self.ready_since = [0.0] * n
        self.talking: dict[int, float] = {}  # agent -> talk started
        self.wrapping: dict[int, float] = {}  # agent -> wrap started
        self.talk_of = [0.0] * n
        self.buckets = _timeline(self.duration)
        self.result = ShiftResult(
            policy=policy.name, seed=seed, agents=n, duration=self.duration, timeline=self.buckets
        )

    def _at(self, when: float, kind: int, subject: int) -> None:
        heapq.heappush(self.events, (when, next(self.seq), kind, subject))

    def _bucket(self, t: float) -> Bucket:
        return _bucket_at(self.buckets, t)

    def run(self) -> ShiftResult:
        self._at(0.0, _TICK, 0)
        events = self.events
        while events and events[0][0] < self.duration:
            now, _, kind, subject = heapq.heappop(events)
            if kind == _TICK:
                self._decide(now)
                self._at(now + self.tick, _TICK, 0)
            elif kind == _RESOLVE:
                self._resolve(now, subject)
            elif kind == _VERDICT:
                self._verdict(now, subject)
            elif kind == _GIVE_UP:
                self._give_up(now, subject)
            elif kind == _TALK_END:
                self.talking.pop(subject)
                self.wrapping[subject] = now
                self._at(now + self.draw_wrap(), _WRAP_END, subject)
            else:
                self._wrap_end(now, subject)
        for agent in self.ready:
            self.result.agent_wait_seconds += self.duration - self.ready_since[agent]
        return self.result

    # ------------------------------------------------------------------ dialing
    def _decide(self, now: float) -> None:
        floor = FloorState(
            now=now,
            ready=len(self.ready),
            in_call=tuple(now - t for t in self.talking.values()),
            wrap_up=tuple(now - t for t in self.wrapping.values()),
            ringing=tuple(now - t for t in self.ringing.values()),
            in_amd=tuple(now - t for t in self.in_amd.values()),
            waiting=tuple(now - t for _, t in self.waiting),
        )
        wanted = self.policy.calls_to_place(floor)
        if wanted < 0:
            raise ValueError(f"policy {self.policy.name} asked for {wanted} calls")
        for _ in range(wanted):
            self._place(now)

    def _place(self, now: float) -> None:
        u = self.uniform()
        human = self.human.at(now)
        machine = human + self.machine.at(now)
        if u < machine:
            fate = CallFate.HUMAN if u < human else CallFate.MACHINE
            ring = self.draw_ring()
            if ring >= self.ring_timeout:
                fate, ring = CallFate.NO_ANSWER, self.ring_timeout
        elif u < machine + self.busy.at(now):
            fate, ring = CallFate.BUSY, BUSY_SECONDS
        else:
            fate, ring = CallFate.NO_ANSWER, self.ring_timeout
        call_id = next(self.call_ids)
        self.calls[call_id] = _Call(fate, now, ring)
        self.ringing[call_id] = now
        self._at(now + ring, _RESOLVE, call_id)
        self.result.calls_placed += 1
        self._bucket(now).placed += 1

    def _resolve(self, now: float, call_id: int) -> None:
        call = self.calls[call_id]
        del self.ringing[call_id]
        if call.fate in (CallFate.HUMAN, CallFate.MACHINE):
            call.answered_at = now
            self.in_amd[call_id] = now
            self._at(now + self.amd, _VERDICT, call_id)
            return
        del self.calls[call_id]
        self.policy.observe(CallObserved(now, call.fate, call.ring))

    def _verdict(self, now: float, call_id: int) -> None:
        call = self.calls[call_id]
        del self.in_amd[call_id]
        if call.fate is CallFate.MACHINE:
            del self.calls[call_id]
            self.result.machines += 1
            self.policy.observe(CallObserved(now, CallFate.MACHINE, call.ring, self.amd))
            return
        self.result.lives += 1
        self._bucket(now).lives += 1
        if self.ready:
            self._connect(now, self.ready.popleft(), call_id)
        else:
            self.waiting.append((call_id, now))
            self._at(now + self.grace, _GIVE_UP, call_id)

    def _give_up(self, now: float, call_id: int) -> None:
        if call_id not in self.calls:
            return  # an agent took the call in time
        for index, (waiting_id, _) in enumerate(self.waiting):
            if waiting_id == call_id:
                del self.waiting[index]
                break
        call = self.calls.pop(call_id)
        self.result.abandons += 1
        self._bucket(now - self.grace).abandons += 1
        self.policy.observe(CallObserved(now, CallFate.HUMAN, call.ring, self.amd, abandoned=True))

    # ------------------------------------------------------------------ agents
    def _connect(self, now: float, agent: int, call_id: int) -> None:
        call = self.calls.pop(call_id)
        self.result.connects += 1
        self.result.agent_wait_seconds += now - self.ready_since[agent]
        talk = self.draw_talk()
        self.talk_of[agent] = talk
        self.talking[agent] = now
        self._at(now + talk, _TALK_END, agent)
        _count_talk(self.result, now, min(now + talk, self.duration))
        self.policy.observe(CallObserved(now, CallFate.HUMAN, call.ring, self.amd))

    def _wrap_end(self, now: float, agent: int) -> None:
        started = self.wrapping.pop(agent)
        self.policy.observe(HandleObserved(now, self.talk_of[agent], now - started))
        self.ready_since[agent] = now
        if self.waiting:
            call_id, _ = self.waiting.popleft()
            self._connect(now, agent, call_id)
        else:
            self.ready.append(agent)


def clairvoyant(scenario: Scenario, seed: int | None = None) -> ShiftResult:
    """The shift as a scheduler that knows every call's outcome in advance would run it.

    It can always have a live person reach an agent the moment the agent is free (it has
    unlimited numbers and lines, and knows which will be answered by a person and when), so
    nobody is abandoned, it dials only the people, and agents wait only for their first call
    of the shift: one ring of an answered call plus AMD. The one limit it cannot beat is a
    time when nobody answers: a person can reach an agent at t only if the human rate is above
    zero somewhere in [t - amd - ring timeout, t - amd].
    """
    campaign = scenario.campaign
    seed = campaign.seed if seed is None else seed
    duration = campaign.duration_seconds
    agents = scenario.agents.count
    buckets = _timeline(duration)
    result = ShiftResult("clairvoyant", seed, agents, duration, timeline=buckets)
    rng = random.Random(seed * 7919 + 3)
    draw_ring = scenario.population.ring_seconds.sampler(rng)
    draw_talk = scenario.agents.talk_seconds.sampler(rng)
    draw_wrap = scenario.agents.wrap_seconds.sampler(rng)
    human = RateSchedule(scenario.population.human_rate)
    amd, timeout = campaign.amd_seconds, campaign.ring_timeout_seconds
    step_times = [t + amd for t in human.times]
    for _ in range(agents):
        t = amd + min(draw_ring(), timeout)
        free_since = 0.0
        while t < duration:
            if not human.positive_between(t - amd - timeout, t - amd):
                later = [s for s in step_times if s > t]
                if not later:
                    break
                t = later[0]
                continue
            result.agent_wait_seconds += t - free_since
            result.connects += 1
            result.lives += 1
            result.calls_placed += 1
            bucket = _bucket_at(buckets, t)
            bucket.lives += 1
            bucket.placed += 1
            talk = draw_talk()
            _count_talk(result, t, min(t + talk, duration))
            t += talk + draw_wrap()
            free_since = t
    return result
