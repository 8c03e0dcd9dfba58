"""An engine's beat on the PBX: the variable it beats in, and another engine's reading of it."""

import asyncio

import pytest

from pbx_engine.ari.errors import AriUnavailable
from pbx_engine.ari.presence import (
    BeatValue,
    EnginePresence,
    StillBeats,
    beat_variable,
    read_beat,
)
from tests.waiting import eventually, now


class Globals:
    """The PBX's global variables, as the presence reads and writes them."""

    app = "engine-a-app"

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.written: list[str] = []  # every value set, in order

    async def set_global(self, name: str, value: str) -> None:
        self.values[name] = value
        self.written.append(value)

    async def get_global(self, name: str) -> str | None:
        return self.values.get(name)


@pytest.mark.parametrize(
    ("engine", "variable"),
    [
        ("engine-a", "ENGINE_BEAT_engine_a"),
        ("db01.example.org", "ENGINE_BEAT_db01_example_org"),
        ("x;Set(FOO=1)", "ENGINE_BEAT_x_Set_FOO_1_"),
    ],
)
def test_the_beat_variable_keeps_to_what_asterisk_allows_in_a_name(engine, variable):
    assert beat_variable(engine) == variable


async def test_another_engine_reads_an_engines_beat_with_its_app_and_run_and_none_elsewhere():
    pbx = Globals()
    a = EnginePresence(pbx, "engine-a", every=0.01)
    b = EnginePresence(pbx, "engine-b", every=0.01)
    await first_beat(a, pbx)
    standing = await b.beat_of("engine-a")
    assert standing is not None and standing.app == "engine-a-app"  # its agents' legs are there
    assert standing.life == a.life
    assert await b.beat_of("engine-c") is None  # it runs on another PBX, if anywhere


async def first_beat(presence: EnginePresence, pbx: Globals) -> str:
    """What `presence` writes the first time it gets through to the PBX."""
    task = asyncio.create_task(presence.run())
    try:
        written = await eventually(now(lambda: pbx.written), timeout=5, what="a beat")
        return written[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_restarted_engine_beats_differently_from_the_one_before():
    pbx = Globals()
    before = await first_beat(EnginePresence(pbx, "engine-a"), pbx)
    pbx.written.clear()
    assert await first_beat(EnginePresence(pbx, "engine-a"), pbx) != before


async def test_a_pbx_out_of_reach_misses_beats_and_the_beating_goes_on():
    class Flaky(Globals):
        calls = 0

        async def set_global(self, name: str, value: str) -> None:
            self.calls += 1
            if self.calls < 3:
                raise AriUnavailable("Asterisk restarting")
            await super().set_global(name, value)

    pbx = Flaky()
    assert (await first_beat(EnginePresence(pbx, "engine-a", every=0.01), pbx)).endswith("-3")


@pytest.mark.parametrize(
    ("value", "beat"),
    [
        ("engine-a-app@0f3a9c1e-12", BeatValue("engine-a-app", "0f3a9c1e", 12)),
        ("app@with@at@0f3a9c1e-1", BeatValue("app@with@at", "0f3a9c1e", 1)),
        (None, None),
        ("", None),
        ("engine-a-app", None),  # not a beat: no run, no count
        ("app@0f3a9c1e-", None),
        ("app@LIFE-3", None),
    ],
)
def test_a_beat_is_read_as_app_run_and_count(value, beat):
    assert read_beat(value) == beat


def beat(count: int, life: str = "0f3a9c1e") -> BeatValue:
    return BeatValue("app", life, count)


def test_a_beat_that_moves_is_never_still():
    beats = StillBeats(still_for=6.0)
    assert not any(beats.read("engine-a", beat(n), float(n)) for n in range(20))


def test_a_beat_is_still_once_it_stood_for_the_whole_time_from_when_first_read():
    beats = StillBeats(still_for=6.0)
    # First read at 100: however long it stood before, it counts from then.
    assert not beats.read("engine-a", beat(7), 100.0)
    assert not beats.read("engine-a", beat(7), 105.9)
    assert beats.read("engine-a", beat(7), 106.0)


def test_a_beat_that_moves_again_starts_over_and_one_gone_is_forgotten():
    beats = StillBeats(still_for=6.0)
    beats.read("engine-a", beat(7), 100.0)
    assert not beats.read("engine-a", beat(8), 105.0)  # moved: counts from 105
    assert not beats.read("engine-a", beat(8), 110.0)
    assert beats.read("engine-a", beat(8), 111.0)
    beats.forget("engine-a")  # no beat any more
    assert not beats.read("engine-a", beat(8), 113.0)


def test_a_restarted_engine_at_the_same_count_is_a_new_beat():
    beats = StillBeats(still_for=6.0)
    beats.read("engine-a", beat(3), 100.0)
    assert not beats.read("engine-a", beat(3, life="77aa77aa"), 106.0)


def test_engines_are_judged_each_on_its_own():
    beats = StillBeats(still_for=6.0)
    beats.read("engine-a", beat(1), 100.0)
    beats.read("engine-b", beat(1), 103.0)
    assert beats.read("engine-a", beat(1), 106.0)
    assert not beats.read("engine-b", beat(1), 106.0)
    beats.forget("engine-a")
    assert not beats.read("engine-a", beat(1), 107.0)
