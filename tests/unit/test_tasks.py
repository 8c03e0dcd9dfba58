"""Owned tasks: closing cancels them and waits, even for one that lives through a cancellation
(Python 3.11's wait_for can swallow one)."""

import asyncio

from pbx_engine.tasks import OwnedTasks, wait_set


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


async def test_given_a_loop_on_wait_set_when_cancelled_as_its_event_is_set_then_it_stops():
    """The race that kept a campaign runner going after its cancellation: the wake-up and the
    cancellation in one turn of the event loop."""
    wake = asyncio.Event()
    turns = 0

    async def loop() -> None:
        nonlocal turns
        while True:
            await wait_set(wake, 0.5)
            wake.clear()
            turns += 1

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # waiting now
    wake.set()
    await asyncio.sleep(0)  # the wake-up is delivered: wait_for's own task would be done now
    task.cancel()
    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=5)
    assert task.cancelled() and turns <= 1


async def test_given_an_event_when_waited_on_then_whether_it_was_set_in_time_is_told():
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_set(event, 5) is True
