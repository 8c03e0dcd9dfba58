"""Password checks run a few at once; past the waiting room a sign-in is turned away at once."""

import asyncio
import threading

import pytest

from pbx_engine.signin.gate import HashGate, HashGateFull
from tests.waiting import eventually


async def test_given_a_full_gate_when_another_try_comes_then_it_is_turned_away_at_once():
    gate = HashGate(concurrent=2, queued=1)
    release = threading.Event()
    running = 0
    peak = 0
    lock = threading.Lock()

    def slow_check() -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(5)
        with lock:
            running -= 1
        return True

    async def one() -> bool:
        async with gate.admitted():
            return await gate.run(slow_check)

    tasks = [asyncio.create_task(one()) for _ in range(3)]

    async def full() -> bool:
        return gate.full

    await eventually(full, timeout=5, interval=0.01, what="two checks admitted, one waiting")

    async def both_running() -> bool:
        # Their threads are inside the check: released earlier, one could end before the
        # other starts, and the peak would say 1 on a loaded machine.
        return running == 2

    await eventually(both_running, timeout=5, interval=0.01, what="two checks running")
    with pytest.raises(HashGateFull):
        async with gate.admitted():
            pass
    release.set()
    assert await asyncio.gather(*tasks) == [True, True, True]
    assert peak == 2 and gate.hashed == 3 and not gate.full
