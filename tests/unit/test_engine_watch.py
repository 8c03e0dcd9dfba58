"""Engines watching each other on a PBX: one whose beat stands still is taken over, once; a beat
of an earlier run, or none here, is not judged; an engine finding itself taken over says so."""

from __future__ import annotations

import asyncio

from pbx_engine.ari.errors import AriUnavailable
from pbx_engine.ari.presence import EnginePresence, beat_variable
from pbx_engine.dialer.takeover import EngineWatch
from pbx_engine.storage.engine_runs import EngineRun, RunsSeen
from tests.unit.test_presence import Globals

STILL_FOR = 0.05
ME = EngineRun("engine-b", "engine-b", "bbbbbbbb")


class Runs:
    """The record of engines running, as the watch reads it."""

    def __init__(self, *others: EngineRun) -> None:
        self.others_running = list(others)
        self.mine_taken_by: str | None = None

    async def seen_by(self, run: EngineRun) -> RunsSeen:
        assert run == ME
        return RunsSeen(self.mine_taken_by, list(self.others_running))


class Dialer:
    def __init__(self, runs: Runs) -> None:
        self.runs = runs
        self.taken: list[tuple[str, str]] = []

    async def take_over(self, engine: str, life: str) -> int:
        self.taken.append((engine, life))
        self.runs.others_running = [r for r in self.runs.others_running if r.engine != engine]
        return 0


def watch(runs: Runs, pbx: Globals) -> tuple[EngineWatch, Dialer, list[str]]:
    dialer, told = Dialer(runs), []
    presence = EnginePresence(pbx, ME.engine)
    return (
        EngineWatch(runs, presence, dialer, ME, taken_over=told.append, still_for=STILL_FOR),
        dialer,
        told,
    )


async def looks(watch: EngineWatch, times: int) -> None:
    for _ in range(times):
        await watch.look()
        await asyncio.sleep(STILL_FOR / 2)


async def test_an_engine_whose_beat_stands_still_is_taken_over_once():
    pbx = Globals()
    pbx.values[beat_variable("engine-a")] = "engine-a@aaaaaaaa-41"
    runs = Runs(EngineRun("engine-a", "engine-a", "aaaaaaaa"))
    engine_watch, dialer, told = watch(runs, pbx)
    await looks(engine_watch, 6)
    assert dialer.taken == [("engine-a", "aaaaaaaa")]
    assert told == []


async def test_an_engine_whose_beat_moves_is_left_alone():
    pbx = Globals()
    runs = Runs(EngineRun("engine-a", "engine-a", "aaaaaaaa"))
    engine_watch, dialer, _ = watch(runs, pbx)
    for count in range(8):
        pbx.values[beat_variable("engine-a")] = f"engine-a@aaaaaaaa-{count}"
        await looks(engine_watch, 1)
    assert dialer.taken == []


async def test_a_beat_of_an_earlier_run_or_none_here_is_not_judged():
    pbx = Globals()
    # engine-a runs again (elsewhere): the beat here is its earlier run's. engine-c runs on
    # another PBX: no beat here at all.
    pbx.values[beat_variable("engine-a")] = "engine-a@0ld0ld00-9"
    runs = Runs(EngineRun("engine-a", "engine-a", "aaaaaaaa"), EngineRun("engine-c", "c", "cc"))
    engine_watch, dialer, _ = watch(runs, pbx)
    await looks(engine_watch, 6)
    assert dialer.taken == []


async def test_an_engine_finding_its_own_run_taken_over_says_who_took_it():
    pbx = Globals()
    pbx.values[beat_variable("engine-a")] = "engine-a@aaaaaaaa-41"
    runs = Runs(EngineRun("engine-a", "engine-a", "aaaaaaaa"))
    runs.mine_taken_by = "engine-c"
    engine_watch, dialer, told = watch(runs, pbx)
    await looks(engine_watch, 6)
    assert told and set(told) == {"engine-c"}
    assert dialer.taken == []  # it owns nothing any more: it takes nothing either


async def test_a_take_over_that_fails_half_way_does_not_stop_the_watch():
    class Failing(Dialer):
        async def take_over(self, engine: str, life: str) -> int:
            await super().take_over(engine, life)
            if engine == "engine-a":
                raise AriUnavailable("Asterisk not answering")
            return 0

    pbx = Globals()
    pbx.values[beat_variable("engine-a")] = "engine-a@aaaaaaaa-41"
    pbx.values[beat_variable("engine-c")] = "engine-c@cccccccc-7"
    runs = Runs(EngineRun("engine-a", "a", "aaaaaaaa"), EngineRun("engine-c", "c", "cccccccc"))
    dialer = Failing(runs)
    presence = EnginePresence(pbx, ME.engine)
    engine_watch = EngineWatch(
        runs, presence, dialer, ME, taken_over=lambda by: None, still_for=STILL_FOR
    )
    await looks(engine_watch, 6)
    assert dialer.taken == [("engine-a", "aaaaaaaa"), ("engine-c", "cccccccc")]
