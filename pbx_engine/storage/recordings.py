"""Call recordings: their files, their pauses (while card numbers are read) and retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pbx_engine.storage.models import JsonRow


@dataclass(frozen=True)
class RecordingFile(JsonRow):
    id: int
    name: str
    leg: str  # mixed, debtor or agent
    format: str
    started_at: datetime
    ended_at: datetime | None
    delete_after: datetime
    deleted_at: datetime | None


@dataclass(frozen=True)
class RecordingPause(JsonRow):
    paused_at: datetime
    resumed_at: datetime | None
    agent_id: int | None


@dataclass(frozen=True)
class RecordingFailure(JsonRow):
    """A file that was not made, or stopped: the call went on unrecorded."""

    leg: str
    reason: str  # a FailureReason value
    detail: str  # Asterisk's words, when it gave any
    failed_at: datetime


@dataclass(frozen=True)
class RecordingOwner:
    """A recording with the agent and channel of its attempt (who may hear it)."""

    name: str
    leg: str
    format: str
    deleted_at: datetime | None
    agent_id: int | None
    channel_id: str


class RecordingStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add_recording(
        self,
        channel_id: str,
        name: str,
        leg: str,
        *,
        started_at: datetime,
        delete_after: datetime,
        format: str = "wav",
    ) -> int | None:
        """The file of the call on `channel_id`. Keyed by the channel, not the attempt's id: a
        call taken during a database outage has no id yet, and this write is made after its
        attempt's. None: no attempt has that channel."""
        return await self.pool.fetchval(
            """INSERT INTO recordings (attempt_id, name, leg, format, started_at, delete_after)
               SELECT id, $2, $3, $4, $5, $6 FROM call_attempts WHERE channel_id = $1
               RETURNING id""",
            channel_id,
            name,
            leg,
            format,
            started_at,
            delete_after,
        )

    async def finish_recording(self, name: str, ended_at: datetime) -> None:
        await self.pool.execute(
            "UPDATE recordings SET ended_at = $2 WHERE name = $1 AND ended_at IS NULL",
            name,
            ended_at,
        )

    async def recordings_of_attempt(self, attempt_id: int) -> list[RecordingFile]:
        rows = await self.pool.fetch(
            """SELECT id, name, leg, format, started_at, ended_at, delete_after, deleted_at
               FROM recordings WHERE attempt_id = $1 ORDER BY id""",
            attempt_id,
        )
        return [RecordingFile(**dict(r)) for r in rows]

    async def recording_pauses(self, attempt_id: int) -> list[RecordingPause]:
        rows = await self.pool.fetch(
            """SELECT paused_at, resumed_at, agent_id FROM recording_pauses
               WHERE attempt_id = $1 ORDER BY id""",
            attempt_id,
        )
        return [RecordingPause(**dict(r)) for r in rows]

    async def record_recording_pause(
        self, channel_id: str, agent_id: int | None, at: datetime
    ) -> None:
        await self.pool.execute(
            """INSERT INTO recording_pauses (attempt_id, agent_id, paused_at)
               SELECT id, $2, $3 FROM call_attempts WHERE channel_id = $1""",
            channel_id,
            agent_id,
            at,
        )

    async def record_recording_resume(self, channel_id: str, at: datetime) -> None:
        await self.pool.execute(
            """UPDATE recording_pauses SET resumed_at = $2
               WHERE resumed_at IS NULL
                 AND attempt_id = (SELECT id FROM call_attempts WHERE channel_id = $1)""",
            channel_id,
            at,
        )

    async def add_recording_failure(
        self, channel_id: str, leg: str, reason: str, detail: str, at: datetime
    ) -> None:
        await self.pool.execute(
            """INSERT INTO recording_failures (attempt_id, leg, reason, detail, failed_at)
               SELECT id, $2, $3, $4, $5 FROM call_attempts WHERE channel_id = $1""",
            channel_id,
            leg,
            reason,
            detail,
            at,
        )

    async def recording_failures(self, attempt_id: int) -> list[RecordingFailure]:
        rows = await self.pool.fetch(
            """SELECT leg, reason, detail, failed_at FROM recording_failures
               WHERE attempt_id = $1 ORDER BY id""",
            attempt_id,
        )
        return [RecordingFailure(**dict(r)) for r in rows]

    async def failed_calls_since(self, since: datetime) -> dict[int | None, int]:
        """Calls with a recording failure since then, by campaign id (None: no campaign)."""
        rows = await self.pool.fetch(
            """SELECT a.campaign_id, count(DISTINCT f.attempt_id) AS calls
               FROM recording_failures f JOIN call_attempts a ON a.id = f.attempt_id
               WHERE f.failed_at >= $1 GROUP BY a.campaign_id""",
            since,
        )
        return {r["campaign_id"]: r["calls"] for r in rows}

    async def expired_recordings(self, now: datetime, limit: int = 500) -> list[str]:
        """Names of recordings past their retention and not deleted yet, oldest first."""
        rows = await self.pool.fetch(
            """SELECT name FROM recordings WHERE deleted_at IS NULL AND delete_after <= $1
               ORDER BY delete_after LIMIT $2""",
            now,
            limit,
        )
        return [r["name"] for r in rows]

    async def mark_recording_deleted(self, name: str, at: datetime) -> None:
        await self.pool.execute(
            "UPDATE recordings SET deleted_at = $2 WHERE name = $1 AND deleted_at IS NULL",
            name,
            at,
        )

    async def recording_by_name(self, name: str) -> RecordingOwner | None:
        row = await self.pool.fetchrow(
            """SELECT r.name, r.leg, r.format, r.deleted_at, a.agent_id, a.channel_id
               FROM recordings r JOIN call_attempts a ON a.id = r.attempt_id
               WHERE r.name = $1""",
            name,
        )
        return RecordingOwner(**dict(row)) if row else None
