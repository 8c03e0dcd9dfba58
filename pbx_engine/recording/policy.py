"""What to record of a call and under which names: pure, no I/O.

Every recording is made from snoop channels on the debtor's channel, so it follows him through
whatever bridge he is in (agent, third parties, a transfer): "mixed" spies both directions into
one file; "separate" writes what he says (`debtor`) and what he hears (`agent`, with anyone
else on the call) into two files of the same length, which dispute handlers can play apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RecordingMode(StrEnum):
    NONE = "none"
    MIXED = "mixed"
    SEPARATE = "separate"


@dataclass(frozen=True)
class RecordingPolicy:
    mode: RecordingMode = RecordingMode.NONE
    retention_days: int = 365
    required: bool = True  # no call is placed while recordings cannot be made

    def blocks_dialling(self, recordings_failing: bool) -> bool:
        """Whether a call of this policy must wait: it records, it must, and Asterisk cannot."""
        return self.mode is not RecordingMode.NONE and self.required and recordings_failing

    def delete_after(self, started_at: datetime) -> datetime:
        return started_at + timedelta(days=self.retention_days)


@dataclass(frozen=True)
class PlannedRecording:
    name: str  # Asterisk's recording name: the file is NAME.wav in its recordings folder
    leg: str  # mixed | debtor | agent
    spy: str  # the snoop direction on the debtor's channel: in (his voice), out, both


def recording_name(call: int | str, leg: str) -> str:
    """`attempt-<id>` for the mixed call, `attempt-<id>-<leg>` for one leg: the attempt's row
    is found from the file name alone. A call taken while the database was away has no
    attempt id yet: `call-<channel id>` then."""
    stem = f"attempt-{call}" if isinstance(call, int) else f"call-{call}"
    return stem if leg == "mixed" else f"{stem}-{leg}"


def plan_recordings(mode: RecordingMode, call: int | str) -> list[PlannedRecording]:
    """`call`: the attempt's id, or its channel's when the id is not known yet."""
    if mode is RecordingMode.MIXED:
        return [PlannedRecording(recording_name(call, "mixed"), "mixed", "both")]
    if mode is RecordingMode.SEPARATE:
        return [
            PlannedRecording(recording_name(call, "debtor"), "debtor", "in"),
            PlannedRecording(recording_name(call, "agent"), "agent", "out"),
        ]
    return []
