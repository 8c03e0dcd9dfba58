"""What the engine owes the database while it cannot reach it: pure parts of the record keeper.

`is_unreachable` tells a database that cannot be reached (worth writing again later) from a
write that is wrong (which a retry would not mend). `Outbox` keeps the writes owed, in the order
they were made, within a bound: when full, a call's final state pushes out the oldest write of
an intermediate step (a ringing or answer time), never another final state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg

_UNREACHABLE = (
    OSError,  # refused, reset, unreachable host
    TimeoutError,
    asyncpg.PostgresConnectionError,  # the connection broke, or could not be made
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.TooManyConnectionsError,
)


def is_unreachable(error: BaseException) -> bool:
    """Whether a failed database call failed for want of a database (not for what it said)."""
    if isinstance(error, _UNREACHABLE):
        return True
    # asyncpg says "connection is closed" / "connection was closed in the middle of operation"
    # as an InterfaceError when the server went away under a pooled connection.
    return isinstance(error, asyncpg.InterfaceError) and "closed" in str(error)


@dataclass(frozen=True)
class OwedWrite:
    subject: str  # whose record: a call's channel, an agent
    what: str  # which write (the store method's name)
    run: Callable[[], Awaitable[object]]
    owed_since: float  # clock seconds
    final: bool = False  # a call's final state, a callback promised: last to be given up
    seq: int | None = None  # its number in the journal on disk, when it was written there


class Outbox:
    """Writes owed, first in first out, at most `capacity` of them."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds one write at least")
        self.capacity = capacity
        self._writes: deque[OwedWrite] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._writes)

    def add(self, write: OwedWrite) -> OwedWrite | None:
        """Keep `write`; returns the write given up to make room (`write` itself when nothing
        could give way), else None."""
        given_up: OwedWrite | None = None
        if len(self._writes) >= self.capacity:
            oldest_step = next((w for w in self._writes if not w.final), None)
            if not write.final or oldest_step is None:
                self.dropped += 1
                return write
            self._writes.remove(oldest_step)
            self.dropped += 1
            given_up = oldest_step
        self._writes.append(write)
        return given_up

    def first(self) -> OwedWrite | None:
        return self._writes[0] if self._writes else None

    def done(self, write: OwedWrite) -> None:
        """The first write was made (or given up for good)."""
        if self._writes and self._writes[0] is write:
            self._writes.popleft()

    def oldest_since(self) -> float | None:
        return self._writes[0].owed_since if self._writes else None
