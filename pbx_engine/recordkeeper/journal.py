"""The owed writes on disk, so an engine that stops during a database outage loses none.

Each write owed is appended to a JSON-lines file (and flushed to disk) before the call goes on:
which store method, with which arguments. Made late, it is marked done; once nothing is owed
the file is emptied. An engine started after a crash (or a stop while the database was away)
makes what the file still holds before it takes any call, in the order it was owed.

Only the call-life writes of the record keeper's stores are ever named here, and only they are
made from it (`REPLAYABLE`): the file is the engine's own, but a name read from disk still never
chooses an arbitrary method.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

REPLAYABLE = frozenset(
    {
        "attempts.create_attempt",
        "attempts.mark_attempt_originated",
        "attempts.mark_attempt_ringing",
        "attempts.mark_attempt_answered",
        "attempts.record_amd",
        "attempts.mark_attempt_bridged",
        "attempts.mark_attempt_abandoned",
        "attempts.record_message",
        "attempts.record_inbound_route",
        "attempts.finish_attempt",
        "agents.record_agent_state",
        "callbacks.create_callback",
        "callbacks.callback_dialled",
        "recordings.add_recording",
        "recordings.finish_recording",
        "recordings.record_recording_pause",
        "recordings.record_recording_resume",
        "recordings.add_recording_failure",
        "supervision.log_supervision",
        "supervision.audit_supervisor_action",
    }
)


@dataclass(frozen=True)
class Replay:
    """A write as the journal keeps it: `method` ("attempts.finish_attempt") and its arguments."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    subject: str
    final: bool
    replay: Replay


class JournalError(ValueError):
    """A value the journal cannot write down (it is then owed in memory only)."""


def encode(value: Any) -> Any:
    """A write's argument as JSON: datetimes and decimals tagged, so they come back as such."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    raise JournalError(f"cannot journal a {type(value).__name__}")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        raise JournalError(f"unknown tagged value {sorted(value)}")
    return value


def entry_line(entry: JournalEntry) -> str:
    if entry.replay.method not in REPLAYABLE:
        raise JournalError(f"{entry.replay.method} is not a write the journal may replay")
    return json.dumps(
        {
            "seq": entry.seq,
            "subject": entry.subject,
            "final": entry.final,
            "method": entry.replay.method,
            "args": encode(list(entry.replay.args)),
            "kwargs": {key: encode(v) for key, v in entry.replay.kwargs.items()},
        },
        separators=(",", ":"),
    )


def pending_entries(lines: list[str]) -> tuple[list[JournalEntry], list[str]]:
    """The entries not marked done, in order, and a problem per line that could not be read
    (a line cut short by a crash while it was written, most likely the last)."""
    entries: dict[int, JournalEntry] = {}
    problems = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if "done" in item:
                entries.pop(int(item["done"]), None)
                continue
            if item["method"] not in REPLAYABLE:
                raise JournalError(f"{item['method']} is not a write the journal may replay")
            replay = Replay(
                item["method"],
                tuple(decode(item["args"])),
                {key: decode(v) for key, v in item["kwargs"].items()},
            )
            entries[int(item["seq"])] = JournalEntry(
                int(item["seq"]), str(item["subject"]), bool(item["final"]), replay
            )
        except (ValueError, KeyError, TypeError) as error:
            problems.append(f"line {number}: {error}")
    return [entries[seq] for seq in sorted(entries)], problems


class OwedJournal:
    """The file: appended while writes are owed, emptied once none is."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._next = 1

    def check_writable(self) -> None:
        """At start: a journal that cannot be written would only say so during an outage."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8"):
                pass
        except OSError as error:
            raise JournalError(
                f"state_dir: cannot write {self.path} ({error.strerror or error}): give the "
                "engine's user a folder of its own there, or leave state_dir out"
            ) from None

    def pending(self) -> list[JournalEntry]:
        if not self.path.exists():
            return []
        entries, problems = pending_entries(
            self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        )
        for problem in problems:
            log.error("records.journal_line_unreadable", path=str(self.path), problem=problem)
        if entries:
            self._next = entries[-1].seq + 1
        return entries

    def append(self, subject: str, final: bool, replay: Replay) -> int:
        """Write the owed write down (to disk, not only to the page cache); its number."""
        seq = self._next
        self._write(entry_line(JournalEntry(seq, subject, final, replay)))
        self._next += 1
        return seq

    def done(self, seq: int) -> None:
        self._write(json.dumps({"done": seq}))

    def clear(self) -> None:
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("w", encoding="utf-8") as file:
                os.fsync(file.fileno())
        self._next = 1

    def _write(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())
