"""Owned tasks: closing cancels them and waits, even for one that lives through a cancellation
(Python 3.11's wait_for can swallow one)."""

import asyncio

from pbx_engine.tasks import OwnedTasks


async def test_given_a_task_that_swallows_its_first_cancellation_when_closed_then_close_ends():
    swallowed = 0
    started = asyncio.Event()

    async def stubborn() -> None:
        nonlocal swallowed
        started.set()
        while True:
            try:
                await asyncio.Event().wait()  # until cancelled
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as wait_for does when its awaitable finishes at that moment

    tasks = OwnedTasks()
    task = tasks.spawn(stubborn())
    await started.wait()
    await asyncio.wait_for(tasks.close(), timeout=5)
    assert task.cancelled() and swallowed == 1


async def test_given_tasks_that_failed_when_closed_then_their_errors_are_retrieved_not_raised():
    async def fails() -> None:
        raise RuntimeError("boom")

    tasks = OwnedTasks()
    failed = tasks.spawn(fails())
    await asyncio.wait({failed})
    await tasks.close()
    assert isinstance(failed.exception(), RuntimeError)
