"""The engines running on the database, each under the mark of its current run, and which of
them another engine took over (their beat on the PBX stood still)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class EngineRun:
    engine: str  # its [dialer] engine_name
    app: str  # its ARI app: its calls' and agents' legs are in it
    life: str  # the mark of this run, as its beat on the PBX carries it


@dataclass(frozen=True)
class RunsSeen:
    taken_by: str | None  # the engine that took the watcher's own run over
    others: list[EngineRun]  # the other engines' runs, none taken over


class EngineRuns:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def enter(self, run: EngineRun) -> str | None:
        """This engine's run on record, replacing the one before; the engine that took the
        one before over, if one did (its agents and calls are that engine's now)."""
        return await self.pool.fetchval(
            """WITH before AS (SELECT taken_by FROM engine_runs WHERE engine = $1)
               INSERT INTO engine_runs AS r (engine, app, life) VALUES ($1, $2, $3)
               ON CONFLICT (engine) DO UPDATE
                   SET app = EXCLUDED.app, life = EXCLUDED.life, started_at = now(),
                       taken_by = NULL, taken_at = NULL
               RETURNING (SELECT taken_by FROM before)""",
            run.engine,
            run.app,
            run.life,
        )

    async def leave(self, run: EngineRun) -> None:
        """A clean stop: nobody is to watch for this run any more."""
        await self.pool.execute(
            "DELETE FROM engine_runs WHERE engine = $1 AND life = $2", run.engine, run.life
        )

    async def seen_by(self, run: EngineRun) -> RunsSeen:
        """What the engine running as `run` watches, in one read: who took its run over, if
        anyone did, and the other engines' runs nobody has taken over."""
        rows = await self.pool.fetch(
            """SELECT engine, app, life, taken_by FROM engine_runs
               WHERE (engine = $1 AND life = $2) OR (engine <> $1 AND taken_by IS NULL)
               ORDER BY engine""",
            run.engine,
            run.life,
        )
        taken_by = next((r["taken_by"] for r in rows if r["engine"] == run.engine), None)
        others = [
            EngineRun(r["engine"], r["app"], r["life"]) for r in rows if r["engine"] != run.engine
        ]
        return RunsSeen(taken_by, others)

    async def claim(self, engine: str, life: str, by: str) -> str | None:
        """`engine`'s run marked `life` taken over by `by`; its ARI app, or None when another
        engine took it first, or it has restarted or stopped since."""
        return await self.pool.fetchval(
            """UPDATE engine_runs SET taken_by = $3, taken_at = now()
               WHERE engine = $1 AND life = $2 AND taken_by IS NULL
               RETURNING app""",
            engine,
            life,
            by,
        )
