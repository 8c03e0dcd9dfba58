"""Agents other engines hold, for this engine's predictive campaigns.

Engines on one database share the floor: a predictive campaign's pacing counts the campaign's
agents wherever they are logged in (their states as the database last said, read every
second), and a person who answers while no agent of this engine can take him is handed to an
engine with a ready agent, which puts him through (`pbx_engine.dialer.connector`). The states
are read, never claimed: the engine holding an agent alone decides whom he gets, and a person
handed to it when its agents have just been taken waits there for one as he would here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from pbx_engine.agents.states import AgentState
from pbx_engine.dialer.takeover import out_of_reach
from pbx_engine.storage.agent_holders import AgentElsewhere, AgentHolders

log = structlog.get_logger(__name__)

READ_EVERY = 1.0  # seconds between two reads of the other engines' agents
# The first Stasis argument of a person handed to another engine (`Stasis(app,handed,JUDGED)`,
# JUDGED the verdict's time in Unix seconds: the abandon wait runs from it).
HANDED = "handed"


def states_elsewhere(
    agents: Iterable[AgentElsewhere], logins: set[str] | None, now: datetime
) -> list[tuple[AgentState, float]]:
    """The campaign's agents (`logins`; None: every one) among `agents`: each one's state and
    how long he has been in it, as pacing counts its own; a state this engine does not know is
    left out."""
    counted = []
    for agent in agents:
        if logins is not None and agent.login not in logins:
            continue
        try:
            state = AgentState(agent.state)
        except ValueError:
            continue
        counted.append((state, max((now - agent.since).total_seconds(), 0.0)))
    return counted


def longest_ready(agents: Iterable[AgentElsewhere]) -> AgentElsewhere | None:
    """The ready agent who has waited longest (his engine is the one to hand a person to)."""
    ready = [a for a in agents if a.state == AgentState.READY.value]
    return min(ready, key=lambda a: (a.since, a.login), default=None)


class AgentsElsewhere:
    def __init__(
        self,
        holders: AgentHolders,
        engine: str,
        apps_here: Callable[[], Awaitable[set[str]]],
        *,
        every: float = READ_EVERY,
    ) -> None:
        self._holders = holders
        self._engine = engine
        # The ARI apps on this engine's Asterisk nodes: only their engines can take its calls.
        self._apps_here = apps_here
        self._every = every
        self.agents: Sequence[AgentElsewhere] = ()  # as last read; none while unreadable

    async def run(self) -> None:
        """Read the other engines' agents every second, for pacing."""
        while True:
            await self.read()
            await asyncio.sleep(self._every)

    async def read(self) -> Sequence[AgentElsewhere]:
        """The agents of the other engines whose app is on this engine's nodes (an engine on
        other nodes cannot be handed a person from here), now; none when the database or the
        PBX cannot say: counting agents who may be out of reach would place calls nobody
        takes."""
        try:
            agents = await self._holders.elsewhere(self._engine)
            apps = await self._apps_here() if agents else set()
            self.agents = [agent for agent in agents if agent.app in apps]
        except Exception as error:
            if not out_of_reach(error):
                log.exception("floor.elsewhere_failed")
            elif self.agents:
                log.warning("floor.elsewhere_unread", error=str(error) or type(error).__name__)
            self.agents = ()
        return self.agents

    def handed(self, agent: AgentElsewhere, at: datetime) -> None:
        """A person was handed to this agent's engine: until the next read, pacing counts
        one of its ready agents taken (else it would dial for him again at once)."""
        self.agents = [
            replace(a, state=AgentState.RESERVED.value, since=at) if a == agent else a
            for a in self.agents
        ]

    async def ready_now(self) -> AgentElsewhere | None:
        """The longest-ready agent of another engine, read afresh (a person is waiting), when
        the last read found any agent elsewhere at all (a floor of one engine asks nothing)."""
        if not self.agents:
            return None
        return longest_ready(await self.read())
