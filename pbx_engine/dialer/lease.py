"""A campaign's lease as one engine's runner keeps it: when to take or renew it, and whether it
may still place calls.

Several engines may run the same campaigns on one database; the holder of a campaign's lease
(`storage.leases`) dials it, the others wait to take it over. The lease holds `seconds` in the
database's clock from each take or renewal; the runner counts from the moment it *asked*, by
its own clock, which goes on counting when the database stops answering: cut off, it stops
placing calls `margin` seconds before the lease can run out, so another engine taking it over
never overlaps with it. The insert that places a call also carries the lease's token (the
fence), which the database checks: a call planned just before the lease was lost is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

LEASE_SECONDS = 8.0  # another engine takes a dead one's campaigns within this (and a tick)
RENEW_EVERY = 2.0
MARGIN = 1.5  # seconds before the lease runs out (by our clock) that placing stops


@dataclass
class CampaignLease:
    seconds: float = LEASE_SECONDS
    renew_every: float = RENEW_EVERY
    margin: float = MARGIN
    token: int | None = None
    asked_at: float | None = None  # when the last take or renewal that succeeded was asked
    refusals: int = 0  # takes and renewals the database said no to (another engine holds it)

    def __post_init__(self) -> None:
        if not 0 < self.renew_every < self.seconds - self.margin:
            raise ValueError("a lease must be renewed well before it can run out")

    def due(self, now: float) -> bool:
        """Time to take the lease (not held) or to renew it."""
        return self.asked_at is None or now - self.asked_at >= self.renew_every

    def held(self, token: int, asked_at: float) -> None:
        """The database gave (or renewed) the lease with `token`, asked at `asked_at`."""
        self.token, self.asked_at = token, asked_at

    def refused(self) -> None:
        """The database said no: another engine holds the lease."""
        self.refusals += 1
        self.lost()

    def lost(self) -> None:
        self.token = self.asked_at = None

    def may_place(self, now: float) -> bool:
        """Whether a call may be placed now: the lease is held and cannot have run out."""
        return (
            self.token is not None
            and self.asked_at is not None
            and now < self.asked_at + self.seconds - self.margin
        )
