"""The publish/subscribe hub: publishing never blocks and never fails the publisher.

Who gets what: supervisors (and admins) every notice; an agent only the notices about himself
(`Notice.agent` is his login). A notice with no agent is for supervisors only.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger(__name__)

RESYNC = "resync"


@dataclass(frozen=True)
class Notice:
    kind: str  # agent, screen_pop, call_ended, disposition, campaigns, resync
    data: dict[str, Any] = field(default_factory=dict)
    agent: str | None = None  # the agent it is about (and who may see it)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "agent": self.agent, "data": self.data}


class Subscription:
    """One browser's queue. `get()` waits for the next notice; None once closed. After an
    overflow the next notice is a `resync`: the queue lost notices, so the subscriber should
    fetch a fresh snapshot."""

    def __init__(self, hub: NotificationHub, login: str, supervisor: bool, bound: int) -> None:
        self.login = login
        self.supervisor = supervisor
        self._hub = hub
        self._queue: deque[Notice] = deque()
        self._bound = bound
        self._wake = asyncio.Event()
        self._resync = False
        self.closed = False
        self.dropped = 0

    def wants(self, notice: Notice) -> bool:
        return self.supervisor or (notice.agent is not None and notice.agent == self.login)

    def offer(self, notice: Notice) -> None:
        if self.closed or not self.wants(notice):
            return
        if len(self._queue) >= self._bound:
            self._queue.popleft()
            self.dropped += 1
            self._resync = True
        self._queue.append(notice)
        self._wake.set()

    async def get(self) -> Notice | None:
        while not self._queue and not self.closed:
            self._wake.clear()
            await self._wake.wait()
        if self.closed:
            return None
        if self._resync:
            self._resync = False
            self._queue.clear()  # the snapshot the subscriber fetches covers them
            return Notice(RESYNC, agent=None if self.supervisor else self.login)
        return self._queue.popleft()

    def pending(self) -> int:
        return len(self._queue)

    def close(self) -> None:
        self.closed = True
        self._wake.set()
        self._hub._forget(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NotificationHub:
    def __init__(self, bound: int = 256) -> None:
        self._bound = bound
        self._subscriptions: set[Subscription] = set()
        self._supervisor_in = asyncio.Event()  # set while a supervisor (or admin) watches

    def subscribe(self, login: str, *, supervisor: bool) -> Subscription:
        subscription = Subscription(self, login, supervisor, self._bound)
        self._subscriptions.add(subscription)
        if supervisor:
            self._supervisor_in.set()
        return subscription

    def publish(self, notice: Notice) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(notice)

    @property
    def supervisors_watching(self) -> bool:
        return any(s.supervisor for s in self._subscriptions)

    async def wait_for_supervisor(self) -> None:
        """Return once a supervisor watches (at once when one does already)."""
        await self._supervisor_in.wait()

    def __len__(self) -> int:
        return len(self._subscriptions)

    def close(self) -> None:
        """End every subscription: their websockets close."""
        for subscription in list(self._subscriptions):
            subscription.close()

    def _forget(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if not self.supervisors_watching:
            self._supervisor_in.clear()
