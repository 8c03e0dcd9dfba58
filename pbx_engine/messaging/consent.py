"""The consent ledger's rules: may this number or address be contacted on this channel now?

Every change of consent is an entry: what the debtor (or someone for him) said, on which
channel, when, and what it covers. Nothing is ever overwritten: the ledger is the evidence. The
latest entry that covers a channel decides it; a revocation may be for a time only (France's 60
days after a refusal on a call). Pure rules: no I/O, no clock.

What counts as a revocation (TCPA as the FCC read it in 2024, which the other profiles do not
contradict): a reply whose words are one of the opt-out keywords (STOP, QUIT, END, REVOKE, OPT
OUT, CANCEL, UNSUBSCRIBE, and the languages' own: ARRÊT, ALTO, ...), an agent's disposition,
a written request a supervisor enters, the unsubscribe link. Until 31 January 2027 a revocation
covers the channel it came by; from that day a revocation of automated contact by any means
covers every automated channel to that number ("revoke all"). Revocations are applied at once,
not within the 10 business days the rule allows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class Channel(StrEnum):
    CALL = "call"
    SMS = "sms"
    EMAIL = "email"


class Consent(StrEnum):
    REVOKED = "revoked"
    GRANTED = "granted"


class Source(StrEnum):
    SMS_REPLY = "sms_reply"
    EMAIL_REPLY = "email_reply"
    DISPOSITION = "disposition"  # an agent recorded it on a call
    SUPERVISOR = "supervisor"  # a written request, entered by hand
    UNSUBSCRIBE_LINK = "unsubscribe_link"
    IMPORT = "import"  # the creditor's file


# From this day a revocation by any reasonable means covers all automated calls and texts to
# the number (47 CFR 64.1200(a)(10), the FCC's 2024 order as its compliance date now stands).
REVOKE_ALL_FROM = datetime(2027, 1, 31, tzinfo=UTC)


def revoke_all_from(day: date) -> datetime:
    """A configured "revoke all" day as the moment it starts (its midnight, UTC)."""
    return datetime.combine(day, time(0), tzinfo=UTC)


AUTOMATED = frozenset({Channel.CALL, Channel.SMS})

# Compared after `_words`: case, accents and punctuation dropped, spaces collapsed.
STOP_WORDS = frozenset(
    {
        "stop", "stopall", "stop all", "quit", "end", "revoke", "opt out", "optout", "cancel",
        "unsubscribe", "stop sms", "arret", "arret sms", "desinscrire", "desabonner", "alto",
        "baja", "cancelar", "parar", "rezygnuje", "wypisz", "koniec",
    }
)  # fmt: skip
START_WORDS = frozenset({"start", "unstop", "yes", "oui", "si", "tak"})


@dataclass(frozen=True)
class ConsentEntry:
    address: str  # an E.164 number or an e-mail address (lower case)
    channels: frozenset[Channel]  # what it covers
    consent: Consent
    source: Source
    at: datetime
    until: datetime | None = None  # a revocation for a time only
    note: str = ""


@dataclass(frozen=True)
class ContactDecision:
    allowed: bool
    rule: str  # why, in words an operator and an auditor read
    entry: ConsentEntry | None = None  # the entry that decided, if one did


def normalise_address(address: str) -> str:
    address = address.strip()
    return address.lower() if "@" in address else address


def _words(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    kept = "".join(c if c.isalnum() else " " for c in plain)
    return " ".join(kept.split())


def reply_consent(text: str) -> Consent | None:
    """What a reply says about consent: REVOKED for an opt-out keyword, GRANTED for a keyword
    that asks for messages again, None for anything else (a question, a payment promise...).
    The whole reply must be the keyword ("STOP", "Stop.", "ARRÊT"): "stop calling me at
    work" is read by a person (it reaches the desk), not by this rule."""
    words = _words(text)
    if words in STOP_WORDS:
        return Consent.REVOKED
    if words in START_WORDS:
        return Consent.GRANTED
    return None


def covers(
    revoked_by: Channel, at: datetime, revoke_all_from: datetime = REVOKE_ALL_FROM
) -> frozenset[Channel]:
    """The channels a revocation that came by `revoked_by` at `at` covers. `revoke_all_from`:
    the day "revoke all" applies from (a centre may apply it before the rule's date)."""
    if revoked_by in AUTOMATED and at >= revoke_all_from:
        return AUTOMATED
    return frozenset({revoked_by})


def may_contact(
    entries: Iterable[ConsentEntry],
    address: str,
    channel: Channel,
    now: datetime,
    *,
    needs_consent: bool = False,
) -> ContactDecision:
    """The decision for `address` on `channel` at `now`: the latest entry that covers it
    decides; a revocation whose `until` has passed no longer does. `needs_consent`: the
    channel needs consent given beforehand (automated texts to a mobile under TCPA), so no
    entry at all is a refusal."""
    address = normalise_address(address)
    deciding: ConsentEntry | None = None
    for entry in entries:
        if normalise_address(entry.address) != address or channel not in entry.channels:
            continue
        if entry.at > now:
            continue
        if entry.consent is Consent.REVOKED and entry.until is not None and entry.until <= now:
            continue
        if deciding is None or entry.at >= deciding.at:
            deciding = entry
    if deciding is None:
        if needs_consent:
            return ContactDecision(False, f"no consent on record for {channel.value}")
        return ContactDecision(True, "no revocation on record")
    when = deciding.at.strftime("%Y-%m-%d %H:%M UTC")
    if deciding.consent is Consent.GRANTED:
        return ContactDecision(
            True, f"consent given by {deciding.source.value} on {when}", deciding
        )
    rule = f"revoked by {deciding.source.value} on {when}"
    if deciding.until is not None:
        rule += f", until {deciding.until.strftime('%Y-%m-%d')}"
    return ContactDecision(False, rule, deciding)


@dataclass(frozen=True)
class Revocation:
    channels: frozenset[Channel]
    until: datetime | None
    note: str


def revocation_by_disposition(
    code: str,
    at: datetime,
    refused_quiet: timedelta | None,
    revoke_all_from: datetime = REVOKE_ALL_FROM,
) -> Revocation | None:
    """What an agent's disposition says about consent: "stop calling me" revokes calls to the
    number (and, from the revoke-all date, texts too); a refusal, under a profile with a quiet
    time after one (France's 60 days), revokes calls for that long. None: nothing to record."""
    if code == "stop_calling":
        return Revocation(
            covers(Channel.CALL, at, revoke_all_from), None, "asked on a call not to be called"
        )
    if code == "refused" and refused_quiet is not None:
        days = refused_quiet.days
        return Revocation(
            frozenset({Channel.CALL}), at + refused_quiet, f"refused on a call: {days} days"
        )
    return None
