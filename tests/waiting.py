"""Wait by polling with a deadline, never by sleeping a fixed time."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


def now(condition: Callable[[], T]) -> Callable[[], Awaitable[T]]:
    """A plain condition as the awaitable probe `eventually` polls."""

    async def probe() -> T:
        return condition()

    return probe
