"""At most a few password hashes at once: each takes about 16 MiB and 50 ms of a core, so a
flood of sign-ins must not queue hundreds of them. Past `concurrent` running and `queued`
waiting, a try is turned away at once (the caller answers 503) instead of waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class HashGateFull(Exception):
    pass


class HashGate:
    def __init__(self, concurrent: int = 4, queued: int = 16) -> None:
        self._slots = asyncio.Semaphore(concurrent)
        self._limit = concurrent + queued
        self._admitted = 0
        self.hashed = 0  # hashes computed since start: what a flood of guesses really cost
        self.running = self.peak = 0  # hashes under way now, and the most at once

    @property
    def full(self) -> bool:
        return self._admitted >= self._limit

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[HashGate]:
        """Holds a place (running or waiting) for one sign-in; HashGateFull when none is left.
        The place is taken before the first await, so a check of `full` just before holds."""
        if self.full:
            raise HashGateFull("too many sign-ins at once: try again in a moment")
        self._admitted += 1
        try:
            yield self
        finally:
            self._admitted -= 1

    async def run(self, check: Callable[..., T], *args: object) -> T:
        """Run a hash (in a thread) once a slot is free; call inside `admitted()`."""
        async with self._slots:
            self.hashed += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                return await asyncio.to_thread(check, *args)
            finally:
                self.running -= 1
