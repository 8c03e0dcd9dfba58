"""Tasks with an owner: started from callbacks that must not block, cancelled when the owner
closes. Each keeps a reference (a bare `create_task` can be garbage-collected mid-flight)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

RECANCEL_AFTER = 1.0  # seconds


class OwnedTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait until each has finished.

        A task that lives through its cancellation is cancelled again each second: Python
        3.11's `asyncio.wait_for` swallows a cancellation that comes just as the awaitable it
        waits for finishes, and a loop around it would then run on and hold `close` forever."""
        tasks = list(self._tasks)
        pending = {task for task in tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
        await asyncio.gather(*tasks, return_exceptions=True)  # their errors, retrieved


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether `event` is set within `seconds`.

    For loops that wait for a wake-up or a tick: the wait runs in the caller's own task, so a
    cancellation that comes as the event is set stops the loop. Python 3.11's
    `asyncio.wait_for` waits in a task of its own and would swallow that cancellation."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
