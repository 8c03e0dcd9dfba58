"""Routing of ARI events to the calls they concern, and the reconnect schedule.

One reader task reads the websocket and hands every event to `EventRouter.route`, which never
blocks: each subscription has its own unbounded queue, so one call's events keep their order and a
slow call cannot stall the reader (Asterisk drops a websocket that is read too slowly).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import structlog

from pbx_engine.ari.events import Event

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Event)


def backoff_delay(attempt: int, initial: float, maximum: float, jitter: float) -> float:
    """Seconds to wait before reconnect `attempt` (0-based): capped doubling, spread by jitter.

    `jitter` in [0, 1) scales the delay between half and all of it, so many engines restarted
    together do not hammer Asterisk in step.
    """
    delay = min(maximum, initial * (2 ** min(attempt, 30)))
    return delay * (0.5 + jitter / 2)


class Subscription:
    """The events about one or more channels, in the order Asterisk sent them."""

    def __init__(self, router: EventRouter, channel_ids: tuple[str, ...]) -> None:
        self._router = router
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self.channel_ids: set[str] = set()
        for channel_id in channel_ids:
            self.follow(channel_id)

    def follow(self, channel_id: str) -> None:
        """Also receive events about `channel_id` (a snoop or a second leg of the same call)."""
        self.channel_ids.add(channel_id)
        self._router.attach(channel_id, self)

    def deliver(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def close(self) -> None:
        for channel_id in self.channel_ids:
            self._router.detach(channel_id, self)

    def drain(self) -> list[Event]:
        """The events that have arrived and not been read, without waiting."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    async def get(self, timeout: float | None = None) -> Event:
        """The next event; raises TimeoutError after `timeout` seconds."""
        if timeout is None:
            return await self._queue.get()
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    async def wait_for(
        self,
        kind: type[E] | tuple[type[E], ...],
        predicate: Callable[[E], bool] | None = None,
        timeout: float = 10.0,
    ) -> E:
        """Skip events until one of `kind` (matching `predicate`) arrives."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._queue.get()
                if isinstance(event, kind) and (predicate is None or predicate(event)):
                    return event  # type: ignore[return-value]

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


class EventRouter:
    """Channel id -> subscriptions; events nobody claimed go to one handler."""

    def __init__(self) -> None:
        self._by_channel: dict[str, list[Subscription]] = {}
        self._unclaimed: Callable[[Event], None] | None = None

    def set_unclaimed_handler(self, handler: Callable[[Event], None]) -> None:
        self._unclaimed = handler

    def attach(self, channel_id: str, subscription: Subscription) -> None:
        self._by_channel.setdefault(channel_id, []).append(subscription)

    def detach(self, channel_id: str, subscription: Subscription) -> None:
        subscribers = self._by_channel.get(channel_id)
        if subscribers and subscription in subscribers:
            subscribers.remove(subscription)
            if not subscribers:
                del self._by_channel[channel_id]

    def route(self, event: Event) -> bool:
        """Deliver to every subscription of every channel the event names; True if any took it."""
        delivered: set[int] = set()
        for channel_id in event.channel_ids():
            for subscription in self._by_channel.get(channel_id, ()):
                if id(subscription) not in delivered:
                    delivered.add(id(subscription))
                    subscription.deliver(event)
        if not delivered and self._unclaimed is not None:
            try:
                self._unclaimed(event)
            except Exception:
                log.exception("ari.unclaimed_handler_failed", type=event.type)
        return bool(delivered)
