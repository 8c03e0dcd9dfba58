"""The consent ledger: entries are added, never changed; read per address for a decision, and
all of them for evidence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from pbx_engine.messaging.consent import Channel, Consent, ConsentEntry, Source, normalise_address


@dataclass(frozen=True)
class ConsentRecord:
    """An entry as the ledger keeps it, with who entered it and on which case."""

    id: int
    entry: ConsentEntry
    case_id: int | None
    entered_by: str | None  # an agent's login
    message_id: int | None
    recorded_at: datetime

    def as_json(self) -> dict:
        e = self.entry
        return {
            "id": self.id,
            "address": e.address,
            "channels": sorted(c.value for c in e.channels),
            "consent": e.consent.value,
            "source": e.source.value,
            "at": e.at.isoformat(),
            "until": e.until.isoformat() if e.until else None,
            "note": e.note,
            "case_id": self.case_id,
            "entered_by": self.entered_by,
            "message_id": self.message_id,
            "recorded_at": self.recorded_at.isoformat(),
        }


def _entry(row: asyncpg.Record) -> ConsentEntry:
    return ConsentEntry(
        address=row["address"],
        channels=frozenset(Channel(c) for c in row["channels"]),
        consent=Consent(row["consent"]),
        source=Source(row["source"]),
        at=row["at"],
        until=row["until"],
        note=row["note"],
    )


class ConsentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def add_entry(
        self,
        entry: ConsentEntry,
        *,
        case_id: int | None = None,
        entered_by: int | None = None,
        message_id: int | None = None,
    ) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            entry_id = await conn.fetchval(
                """INSERT INTO consent_entries (address, channels, consent, source, at, until,
                                                note, case_id, entered_by, message_id)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id""",
                normalise_address(entry.address),
                sorted(c.value for c in entry.channels),
                entry.consent.value,
                entry.source.value,
                entry.at,
                entry.until,
                entry.note,
                case_id,
                entered_by,
                message_id,
            )
            # The planner put aside the cases it could not call: look at them afresh.
            await conn.execute(
                """UPDATE cases c SET dial_after = NULL FROM phone_numbers p
                   WHERE p.case_id = c.id AND p.e164 = $1 AND c.dial_after IS NOT NULL""",
                normalise_address(entry.address),
            )
        return entry_id

    async def entries_for(self, address: str) -> list[ConsentEntry]:
        rows = await self.pool.fetch(
            "SELECT address, channels, consent, source, at, until, note FROM consent_entries "
            "WHERE address = $1 ORDER BY at, id",
            normalise_address(address),
        )
        return [_entry(r) for r in rows]

    async def ledger(self, address: str | None = None, limit: int = 10_000) -> list[ConsentRecord]:
        """Entries with who entered them, oldest first: the evidence, for one address or all."""
        rows = await self.pool.fetch(
            """SELECT e.*, a.login AS entered_by_login FROM consent_entries e
               LEFT JOIN agents a ON a.id = e.entered_by
               WHERE $1::text IS NULL OR e.address = $1
               ORDER BY e.at, e.id LIMIT $2""",
            normalise_address(address) if address else None,
            limit,
        )
        return [
            ConsentRecord(
                r["id"], _entry(r), r["case_id"], r["entered_by_login"], r["message_id"],
                r["recorded_at"],
            )
            for r in rows
        ]  # fmt: skip
