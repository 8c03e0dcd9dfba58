"""Which engine holds each logged-in agent: one at a time, so two engines never both ring his
phone, keep him in a bridge and put debtors through to him."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class AgentElsewhere:
    """An agent another engine holds, as its last state change on record says."""

    login: str
    engine: str
    app: str  # that engine's ARI app: a call moved there is its to put through
    state: str
    since: datetime


class AgentHolders:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def hold(self, agent_id: int, engine: str) -> str | None:
        """The agent held by `engine` from now on, unless another engine holds him and runs
        (its run on record, not taken over): then that engine's name, and nothing changes."""
        while True:
            held = await self.pool.fetchval(
                """INSERT INTO agent_holders AS h (agent_id, engine) VALUES ($1, $2)
                   ON CONFLICT (agent_id) DO UPDATE SET engine = EXCLUDED.engine, since = now()
                       WHERE h.engine = EXCLUDED.engine
                          OR NOT EXISTS (SELECT 1 FROM engine_runs r
                                         WHERE r.engine = h.engine AND r.taken_by IS NULL)
                   RETURNING engine""",
                agent_id,
                engine,
            )
            if held is not None:
                return None
            other = await self.holder_of(agent_id)
            if other is not None:
                return other
            # Let go between the two statements: he may be held here now.

    async def let_go(self, agent_id: int, engine: str) -> None:
        """Logged out here: any engine may hold him now."""
        await self.pool.execute(
            "DELETE FROM agent_holders WHERE agent_id = $1 AND engine = $2", agent_id, engine
        )

    async def keep_only(self, engine: str, agent_ids: list[int]) -> int:
        """`engine` holds these agents and no others (a restart adopted them; a take-over
        adopted these of the engine it took, and lets the rest go). How many were let go."""
        done = await self.pool.execute(
            "DELETE FROM agent_holders WHERE engine = $1 AND NOT (agent_id = ANY($2::bigint[]))",
            engine,
            agent_ids,
        )
        return int(done.split()[-1])

    async def holder_of(self, agent_id: int) -> str | None:
        return await self.pool.fetchval(
            "SELECT engine FROM agent_holders WHERE agent_id = $1", agent_id
        )

    async def elsewhere(self, engine: str) -> list[AgentElsewhere]:
        """The agents the other engines that run hold (their run on record, not taken over),
        each in his last state on record."""
        rows = await self.pool.fetch(
            """SELECT a.login, h.engine, r.app, s.state, s.at AS since
               FROM agent_holders h
               JOIN engine_runs r ON r.engine = h.engine AND r.taken_by IS NULL
               JOIN agents a ON a.id = h.agent_id
               CROSS JOIN LATERAL (
                   SELECT c.state, c.at FROM agent_state_changes c
                   WHERE c.agent_id = h.agent_id ORDER BY c.at DESC, c.id DESC LIMIT 1
               ) s
               WHERE h.engine <> $1""",
            engine,
        )
        return [AgentElsewhere(**dict(row)) for row in rows]
