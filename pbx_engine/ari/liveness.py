"""When a silent events websocket is pinged, and when it is declared dead.

A connection whose packets are dropped without a FIN or a reset (a NAT or firewall that forgot
the flow, a pulled cable) never ends a read: without a deadline the reader would wait forever
while Asterisk, meanwhile, drops the app. So every byte heard restarts the clock; after
`ping_after` seconds of silence the reader pings, and after `dead_after` seconds of silence
(the ping unanswered) the link is dead: it is closed and the usual reconnect runs.

Pure: the reader feeds it its loop's clock and acts on the verdicts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# receive(timeout=0) would mean "no timeout" to aiohttp: never ask for less than this.
_SHORTEST_WAIT = 0.01


class Verdict(enum.Enum):
    WAIT = "wait"  # heard recently enough, or the ping is still in time
    PING = "ping"  # silent for ping_after: ask for a pong
    DEAD = "dead"  # silent for dead_after: nothing will come


@dataclass
class SilenceWatch:
    ping_after: float
    dead_after: float
    last_heard: float
    pinged: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.ping_after < self.dead_after:
            raise ValueError("ping_after must be above 0 and below dead_after")

    def heard(self, now: float) -> None:
        """Anything from the peer (an event, a pong, a ping) proves the link alive."""
        self.last_heard = now
        self.pinged = False

    def wait(self, now: float) -> float:
        """Seconds to wait for a message before asking `verdict` again."""
        due = self.last_heard + (self.dead_after if self.pinged else self.ping_after)
        return max(_SHORTEST_WAIT, due - now)

    def verdict(self, now: float) -> Verdict:
        """After a wait that brought nothing: ping, declare the link dead, or wait on."""
        silent = now - self.last_heard
        if silent >= self.dead_after:
            return Verdict.DEAD
        if silent >= self.ping_after and not self.pinged:
            self.pinged = True
            return Verdict.PING
        return Verdict.WAIT
