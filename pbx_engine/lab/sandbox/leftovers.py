"""What one test left in the shared sandboxes for the next: pure, from one look at them.

Tests share one engine and one pair of Asterisks per session. Before each test they must be at
rest: every agent logged out, no campaign running or paused, no channel and no bridge on either
Asterisk. `leftovers()` compares a look with that rest and names what differs, so a leak is
reported against the test that made it instead of failing the tests after it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

LOGGED_OUT = "logged_out"
STOPPED = "stopped"


@dataclass(frozen=True)
class SeenChannel:
    id: str
    name: str
    state: str

    @classmethod
    def from_ari(cls, body: Mapping[str, Any]) -> SeenChannel:
        return cls(str(body["id"]), str(body.get("name", "")), str(body.get("state", "")))

    def describe(self) -> str:
        state = f" ({self.state})" if self.state else ""
        return f"channel {self.name or self.id}{state}"


@dataclass(frozen=True)
class SeenBridge:
    id: str
    kind: str
    channels: int

    @classmethod
    def from_ari(cls, body: Mapping[str, Any]) -> SeenBridge:
        return cls(str(body["id"]), str(body.get("bridge_type", "")), len(body.get("channels", [])))

    def describe(self) -> str:
        members = "1 channel" if self.channels == 1 else f"{self.channels} channels"
        return f"bridge {self.id} ({self.kind}, {members})"


@dataclass(frozen=True)
class Sighting:
    """One look at the shared world; an Asterisk not looked at (not started) is left out."""

    agents: Mapping[str, str] = field(default_factory=dict)  # login -> state
    campaigns: Mapping[str, str] = field(default_factory=dict)  # name -> state
    channels: Mapping[str, Sequence[SeenChannel]] = field(default_factory=dict)  # per Asterisk
    bridges: Mapping[str, Sequence[SeenBridge]] = field(default_factory=dict)  # per Asterisk


@dataclass(frozen=True)
class Leftovers:
    agents: Mapping[str, str] = field(default_factory=dict)  # login -> state, not logged out
    campaigns: Mapping[str, str] = field(default_factory=dict)  # name -> state, not stopped
    channels: Mapping[str, tuple[SeenChannel, ...]] = field(default_factory=dict)
    bridges: Mapping[str, tuple[SeenBridge, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.agents or self.campaigns or self.channels or self.bridges)

    def lines(self) -> list[str]:
        """One line per thing left, in a stable order: agents, campaigns, then each Asterisk."""
        found = [f"agent {login} {state}" for login, state in sorted(self.agents.items())]
        found += [f"campaign {name} {state}" for name, state in sorted(self.campaigns.items())]
        for asterisk in sorted({*self.channels, *self.bridges}):
            found += [
                f"{asterisk} Asterisk: {c.describe()}" for c in self.channels.get(asterisk, ())
            ]
            found += [
                f"{asterisk} Asterisk: {b.describe()}" for b in self.bridges.get(asterisk, ())
            ]
        return found


def leftovers(seen: Sighting) -> Leftovers:
    """What in `seen` is not at rest."""
    return Leftovers(
        agents={login: state for login, state in seen.agents.items() if state != LOGGED_OUT},
        campaigns={name: state for name, state in seen.campaigns.items() if state != STOPPED},
        channels={name: tuple(found) for name, found in seen.channels.items() if found},
        bridges={name: tuple(found) for name, found in seen.bridges.items() if found},
    )
