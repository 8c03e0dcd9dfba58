"""What an attempt's end means, decided from Asterisk's hang-up cause and dial status.

Pure functions: no I/O, so every cause Asterisk can report is unit-tested here.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PENDING = "pending"
    HUMAN = "human"
    MACHINE = "machine"
    # A phone's call-screening assistant took the call (it answered our identity line), and the
    # person did not come to the phone while we waited.
    SCREENED = "screened"
    SILENCE = "silence"  # answered, and nothing was said (AMD's INITIALSILENCE)
    FAX = "fax"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    FAILED = "failed"
    ABANDONED = "abandoned"
    CANCELLED = "cancelled"
    # Asterisk refused or never answered before anything was dialled (it was shutting down, or
    # out of reach): no call was made, so it counts toward no retry rule or attempt cap.
    NOT_PLACED = "not_placed"


# Q.850 cause codes, as Asterisk reports them in ChannelDestroyed.cause.
CAUSE_UNALLOCATED = 1
CAUSE_NO_ROUTE = 3
CAUSE_NORMAL_CLEARING = 16
CAUSE_USER_BUSY = 17
CAUSE_NO_USER_RESPONSE = 18
CAUSE_NO_ANSWER = 19
CAUSE_SUBSCRIBER_ABSENT = 20
CAUSE_CALL_REJECTED = 21
CAUSE_NUMBER_CHANGED = 22
CAUSE_INVALID_NUMBER_FORMAT = 28
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_CONGESTION = 34

_BY_DIAL_STATUS = {
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.CANCELLED,
    "CONGESTION": Outcome.FAILED,
    "CHANUNAVAIL": Outcome.FAILED,
}

_BY_CAUSE = {
    CAUSE_USER_BUSY: Outcome.BUSY,
    CAUSE_NO_USER_RESPONSE: Outcome.NO_ANSWER,
    CAUSE_NO_ANSWER: Outcome.NO_ANSWER,
    CAUSE_SUBSCRIBER_ABSENT: Outcome.NO_ANSWER,
    CAUSE_CALL_REJECTED: Outcome.REJECTED,
}


def classify_unanswered(cause: int | None, dial_status: str | None = None) -> Outcome:
    """Outcome of a call that ended before it was answered.

    The hang-up cause is the more specific signal (a carrier's 21 "rejected" arrives with dial
    status CONGESTION), so it wins whenever it says something; otherwise the dial status.
    """
    if cause in _BY_CAUSE:
        return _BY_CAUSE[cause]
    if dial_status and dial_status.upper() in _BY_DIAL_STATUS:
        return _BY_DIAL_STATUS[dial_status.upper()]
    if cause in (CAUSE_NORMAL_CLEARING, CAUSE_NORMAL_UNSPECIFIED):
        # The far end cleared before answering without saying why: treat as not answered.
        return Outcome.NO_ANSWER
    return Outcome.FAILED


# The network saying the number does not exist: Asterisk makes a carrier's SIP 404 (not found)
# and 604 (does not exist anywhere) into cause 1. Congestion, no route (3) or a bad format (28)
# can be the carrier's own trouble, and are retried as failures.
_NUMBER_GONE = {
    CAUSE_UNALLOCATED: "unallocated number",
    CAUSE_NUMBER_CHANGED: "number changed",
}


def number_gone(outcome: Outcome, cause: int | None) -> str | None:
    """Why the number dialled is dead, when an unanswered call's cause says so; None: it is not
    (or nothing says it is)."""
    if outcome not in (Outcome.FAILED, Outcome.REJECTED) or cause not in _NUMBER_GONE:
        return None
    return f"the network says: {_NUMBER_GONE[cause]} (cause {cause})"


NOT_A_PERSON = frozenset({Outcome.MACHINE, Outcome.SILENCE, Outcome.FAX})


def classify_amd(status: str | None, cause: str | None = None) -> Outcome:
    """Outcome of an answered call from app_amd's AMDSTATUS and AMDCAUSE (or FAX, which the
    dialplan reports when the trunk heard a fax's calling tone).

    A MACHINE for initial silence is a line that answered and said nothing: recorded as
    silence. NOTSURE and HANGUP count as a person: hanging up on a live debtor is an abandoned
    call in the regulators' eyes, while an agent hearing a machine only costs a few seconds.
    """
    status = (status or "").upper()
    if status == "FAX":
        return Outcome.FAX
    if status == "MACHINE":
        if (cause or "").upper().startswith("INITIALSILENCE"):
            return Outcome.SILENCE
        return Outcome.MACHINE
    return Outcome.HUMAN
