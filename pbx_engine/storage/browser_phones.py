"""Browser phones on record: each WebRTC endpoint an engine pushed to Asterisk, under the run
that pushed it, until it is taken out again."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class PhoneOnRecord:
    endpoint: str
    life: str  # the run that made it
    login: str | None  # an agent's desk phone
    made_for: str | None  # a guest's: an invitation's id, or a widget caller's ticket


class BrowserPhoneRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def issued(
        self,
        endpoint: str,
        engine: str,
        life: str,
        *,
        login: str | None = None,
        made_for: str | None = None,
    ) -> None:
        """On record before it is pushed (an agent's endpoint, pushed again, is this run's)."""
        await self.pool.execute(
            """INSERT INTO browser_phones (endpoint, engine, life, login, made_for)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (endpoint) DO UPDATE
                   SET engine = EXCLUDED.engine, life = EXCLUDED.life, login = EXCLUDED.login,
                       made_for = EXCLUDED.made_for, issued_at = now()""",
            endpoint,
            engine,
            life,
            login,
            made_for,
        )

    async def withdrawn(self, endpoint: str, life: str) -> None:
        """Off the record, unless a run other than `life`'s has made it again since."""
        await self.pool.execute(
            "DELETE FROM browser_phones WHERE endpoint = $1 AND life = $2", endpoint, life
        )

    async def left(self, engine: str, life: str) -> list[PhoneOnRecord]:
        """`engine`'s phones made by a run before `life` (a crash forgot them), or by an engine
        it took over."""
        rows = await self.pool.fetch(
            """SELECT endpoint, life, login, made_for FROM browser_phones
               WHERE engine = $1 AND life <> $2 ORDER BY endpoint""",
            engine,
            life,
        )
        return [PhoneOnRecord(**dict(row)) for row in rows]

    async def hand_over(self, engine: str, to: str) -> int:
        """A taken-over engine's phones become `to`'s (still under the runs that made them)."""
        done = await self.pool.execute(
            "UPDATE browser_phones SET engine = $2 WHERE engine = $1", engine, to
        )
        return int(done.split()[-1])
