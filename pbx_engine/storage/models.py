"""What the queries return: plain frozen dataclasses, no database types leak out."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Attempt:
    id: int
    channel_id: str
    direction: str
    case_id: int | None
    phone_number_id: int | None
    campaign_id: int | None
    agent_id: int | None
    dialled: str
    caller_id: str | None
    created_at: datetime
    originated_at: datetime | None
    ringing_at: datetime | None
    answered_at: datetime | None
    amd_status: str | None
    amd_cause: str | None
    amd_decided_at: datetime | None
    bridged_at: datetime | None
    ended_at: datetime | None
    hangup_cause: int | None
    hangup_cause_text: str | None
    outcome: str
    abandoned: bool = False
    message_started_at: datetime | None = None  # a message left on a machine
    message_ended_at: datetime | None = None
    screened_at: datetime | None = None  # a call-screening assistant answered our line
    placed_by: str | None = None  # the engine that placed or took the call
    lease_token: int | None = None  # the campaign lease's token it was placed under
    node: str | None = None  # the Asterisk node that carried it

    def as_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class CaseMatch:
    """The case an inbound caller's number belongs to."""

    case_id: int
    reference: str
    debtor_name: str
    owner_agent_id: int | None
    phone_number_id: int
    # "presented": we called this number from the DID he called back; "called": we called
    # this number (from elsewhere); "number": only the case file has it.
    matched_by: str = "number"


@dataclass(frozen=True)
class ImportResult:
    inserted: int
    updated: int
    phone_numbers: int
    rejected: list = field(default_factory=list)  # RowErrors found against the database
    # Numbers of the file not valid in their country's plan, now on the dead-number list.
    invalid_numbers: list = field(default_factory=list)  # (line, e164, reason)


@dataclass(frozen=True)
class AgentRow:
    id: int
    login: str
    name: str
    sip_endpoint: str | None
    role: str
    team: str | None


@dataclass(frozen=True)
class AgentStateChange:
    state: str
    reason: str | None
    channel_id: str | None  # the call it was about, if any
    at: datetime


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser: whose it is, its CSRF token, when it ends."""

    agent: AgentRow
    id_sha256: str
    csrf_token: str
    expires_at: datetime


def json_ready(record) -> dict:
    """A row as JSON-ready values."""
    out = {}
    for key, value in dict(record).items():
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[key] = value
    return out


class JsonRow:
    """A row a handler sends as JSON: the same keys as its columns, with dates, times and
    amounts as strings (what `json_ready` makes of the database row)."""

    def as_json(self) -> dict[str, Any]:
        return json_ready(asdict(self))


@dataclass(frozen=True)
class SoftphoneAccount:
    """A softphone's PJSIP endpoint the engine manages (its aor and auth share the name), and
    the digest credential of its password in `realm` (the password itself is never kept)."""

    endpoint: str
    md5_cred: str
    realm: str = "asterisk"
