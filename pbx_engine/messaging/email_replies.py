"""What a debtor's e-mail reply says (pure): who wrote, which of our messages it answers, and
the words he wrote himself.

A reply names the message it answers in `In-Reply-To` (and `References`), which carry the
Message-ID our e-mail went out with (`messages.provider_id`). Its text is the first plain part
(else the HTML part's text) above the quoted message: mail clients put the original below an
attribution line ("On Tue, ... wrote:", "Le ... a écrit :", "-----Original Message-----") or
quote it line by line with ">"; a signature starts at "-- ". What is left is what the consent
rule and the desk read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

_LONGEST_BODY = 4000  # characters kept of a reply's own words
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Where the quoted original starts, in the languages the centre writes in.
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"on\b.*\bwrote:?|"  # On Tue, 3 Dec 2026, Jan <jan@...> wrote:
    r"le\b.*\ba [ée]crit\s*:?|"  # Le 3 déc. 2026, Jan a écrit :
    r"am\b.*\bschrieb\b.*|"  # Am 03.12.2026 schrieb Jan:
    r"el\b.*\bescribi[óo]:?|"  # El mar, 3 dic 2026, Jan escribió:
    r"w\s+dniu\b.*\bnapisa[łl].*|"  # W dniu 3.12.2026 Jan napisał:
    r"-{2,}\s*original message\s*-{2,}|"
    r"-{2,}\s*message d'origine\s*-{2,}|"
    r"_{5,}|"  # Outlook's rule before From:/Sent:
    r"from:\s.*"  # a forwarded or Outlook-quoted header block
    r")\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class EmailReply:
    sender: str  # the From address, lower case ('' when it has none)
    recipient: str  # the first To address, lower case: our mailbox
    answers: tuple[str, ...]  # Message-IDs it refers to, the one it answers first
    text: str  # the words he wrote, quotes and signature left out
    received_at: datetime | None  # its Date header, when it has a sound one
    auto: bool  # an auto-reply (out of office, a bounce): no one's words


def read_reply(message: EmailMessage) -> EmailReply:
    """The reply in a received message."""
    senders = [a for _, a in getaddresses(message.get_all("From", [])) if "@" in a]
    recipients = [a for _, a in getaddresses(message.get_all("To", [])) if "@" in a]
    answers = _MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
    for reference in reversed(_MESSAGE_ID.findall(str(message.get("References", "")))):
        if reference not in answers:
            answers.append(reference)
    return EmailReply(
        sender=senders[0].lower() if senders else "",
        recipient=recipients[0].lower() if recipients else "",
        answers=tuple(answers),
        text=own_words(_body_text(message)),
        received_at=_date(message),
        auto=_automatic(message),
    )


def own_words(body: str) -> str:
    """The text above the quoted original and the signature (its control characters are the
    service's to make harmless, as an SMS's)."""
    kept: list[str] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        if line.startswith(">") or _ATTRIBUTION.match(line) or line.rstrip() == "--":
            break
        kept.append(line)
    return "\n".join(kept).strip()[:_LONGEST_BODY]


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset, a broken encoding
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        return _html_text(content)
    return content


def _date(message: EmailMessage) -> datetime | None:
    try:
        when = parsedate_to_datetime(str(message.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def _automatic(message: EmailMessage) -> bool:
    """RFC 3834's Auto-Submitted, and the headers the common autoresponders add."""
    submitted = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (
        submitted != "no"
        or precedence in ("auto_reply", "bulk", "junk")
        or message.get("X-Autoreply") is not None
        or message.get_content_type() == "multipart/report"  # a bounce (RFC 3464)
    )


class _Text(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "blockquote", "h1", "h2", "h3"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skipping += 1
        elif tag == "blockquote":
            self.parts.append("\n> ")  # the quoted original: own_words stops there
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return "".join(parser.parts)
