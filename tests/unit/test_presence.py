"""An engine's beat on the PBX: the variable it beats in, and another engine's reading of it."""

import asyncio

import pytest

from pbx_engine.ari.errors import AriUnavailable
from pbx_engine.ari.presence import Beat, EnginePresence, beat_variable
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


async def test_an_engine_beating_is_moving_one_that_stopped_still_one_never_here_never():
    pbx = Globals()
    a = EnginePresence(pbx, "engine-a", every=0.01, watch=0.05)
    b = EnginePresence(pbx, "engine-b", every=0.01, watch=0.05)
    beating = asyncio.create_task(a.run())
    try:
        assert await b.watch("engine-a") is Beat.MOVING
    finally:
        beating.cancel()
    assert await b.watch("engine-a") is Beat.STILL  # its last beat stands still
    assert await b.watch("engine-c") is Beat.NEVER  # it runs on another PBX, if anywhere
    assert await b.app_of("engine-a") == "engine-a-app"  # whose legs are its agents'
    assert await b.app_of("engine-c") is None


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
