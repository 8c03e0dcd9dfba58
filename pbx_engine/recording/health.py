"""Whether calls are being recorded: why a recording did not start, and when the engine should
stop calling itself ready because of it. The decisions are pure; `RecordingHealth` only keeps
the few facts they are made from.

A recording that fails leaves the call going on unrecorded (losing the debtor would be worse),
so nobody hears about it unless the engine says so: the call's record, the agent's desk, the
wallboard, a counter, and `/ready` once it is no accident but every recent call.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

# `/ready` fails when the last FAILING_RUN recorded calls all went unrecorded within
# FAILING_WITHIN: one failure is an accident (a snoop that raced a hang-up), three in a row
# is Asterisk unable to write. Older failures say nothing about now.
FAILING_RUN = 3
FAILING_WITHIN = timedelta(minutes=15)

FOLDER_PROBLEM = "Asterisk cannot write its recordings folder"


class FailureReason(StrEnum):
    """Why a call (or one leg of it) is not recorded; a Prometheus label, so a short fixed set."""

    NOT_WRITABLE = "not_writable"  # Asterisk refused to create the file (its folder)
    NO_SNOOP = "no_snoop"  # Asterisk refused the snoop channel the file is made from
    TIMEOUT = "timeout"  # Asterisk did not answer in time
    FAILED_MID_CALL = "failed_mid_call"  # started, then Asterisk reported it failed
    OTHER = "other"

    @property
    def text(self) -> str:
        """In the agent's words, for the desk and the call's record."""
        return _TEXTS[self]


_TEXTS = {
    FailureReason.NOT_WRITABLE: "Asterisk cannot write the recording file",
    FailureReason.NO_SNOOP: "Asterisk refused to tap the call",
    FailureReason.TIMEOUT: "Asterisk did not answer in time",
    FailureReason.FAILED_MID_CALL: "the recording stopped during the call",
    FailureReason.OTHER: "Asterisk refused to record",
}


def start_failure(
    step: Literal["snoop", "record"], status: int | None, call_gone: bool
) -> FailureReason | None:
    """Why a recording did not start, from the step that failed and ARI's HTTP status (None:
    no answer in time). None when it is no failure: the call ended before it could start."""
    if call_gone:
        return None
    if status is None:
        return FailureReason.TIMEOUT
    if step == "snoop":
        return FailureReason.NO_SNOOP
    # Asterisk answers 500 when it cannot make the file (strerror in its log, e.g. "No such
    # file or directory" for a missing spool/recording); 4xx are our own request's fault.
    return FailureReason.NOT_WRITABLE if status >= 500 else FailureReason.OTHER


def failure_text(reason: str) -> str:
    """A stored reason in the agent's words (one this engine does not know: as stored)."""
    try:
        return FailureReason(reason).text
    except ValueError:
        return reason


@dataclass(frozen=True)
class RecordingTry:
    """One recorded call's try: at the start of its recording, or its failure mid-call."""

    at: datetime
    recorded: bool


def failing_calls_problem(
    tries: Sequence[RecordingTry],
    now: datetime,
    *,
    run: int = FAILING_RUN,
    within: timedelta = FAILING_WITHIN,
) -> str | None:
    """Not ready when each of the last `run` tries failed, all within `within` of now (tries
    in the order they were made). Fewer tries than `run` say nothing yet."""
    last = list(tries)[-run:]
    if run < 1 or len(last) < run:
        return None
    if any(t.recorded for t in last) or any(now - t.at > within for t in last):
        return None
    return f"the last {run} recorded calls were not recorded"


def recording_problem(folder_problem: str | None, calls_problem: str | None) -> str | None:
    """What `/ready` says under `recording`: the folder check's finding first (it names the
    cause), else the calls'."""
    return folder_problem or calls_problem


class RecordingHealth:
    """The last few tries and the folder check's last finding, for `/ready`."""

    def __init__(self, *, run: int = FAILING_RUN, within: timedelta = FAILING_WITHIN) -> None:
        self._run = run
        self._within = within
        self._tries: deque[RecordingTry] = deque(maxlen=max(run, 1))
        self.folder_problem: str | None = None

    def tried(self, at: datetime, *, recorded: bool) -> None:
        self._tries.append(RecordingTry(at, recorded))
        if recorded:
            self.folder_problem = None  # a file was just made there

    def folder_checked(self, problem: str | None) -> None:
        """A folder check's finding; one that passes clears the failed calls too: Asterisk
        can write now, so they say nothing more about now."""
        self.folder_problem = problem
        if problem is None:
            self._tries.clear()

    def failing(self, now: datetime) -> bool:
        return self.problem(now) is not None

    def problem(self, now: datetime) -> str | None:
        calls = failing_calls_problem(self._tries, now, run=self._run, within=self._within)
        return recording_problem(self.folder_problem, calls)
