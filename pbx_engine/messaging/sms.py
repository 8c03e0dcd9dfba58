"""SMS out through the centre's gateway, Kannel, and what it reports back.

Kannel holds the SMPP binds to the carriers or aggregators (their throttling, reconnects and
message ids are its job); the engine hands it each message over its sendsms interface with a
delivery-report address of its own (`/sms/receipt/<signed message id>`), and Kannel's
sms-service passes debtors' replies to `/sms/inbound`. The text goes in the alphabet it was
measured in (GSM-7 or UCS-2, `sms_text`), so the parts billed are the parts counted.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from enum import IntFlag

import aiohttp

from pbx_engine.config import SmsConfig
from pbx_engine.messaging.sms_text import SmsEncoding
from pbx_engine.signed_tokens import TokenError, TokenPurpose, read_signed_token, sign_token

# Kannel's `coding`: 0 the default alphabet, 2 UCS-2 (its smsbox converts the UTF-8 we send).
_CODING = {SmsEncoding.GSM7: "0", SmsEncoding.UCS2: "2"}


class SmsNotSent(Exception):
    """The gateway refused the message or could not be reached; the reason says which."""


class Receipt(IntFlag):
    """Kannel's delivery report types (its `dlr-mask` bits, and the `%d` of a report)."""

    DELIVERED = 1  # the handset has it
    UNDELIVERABLE = 2  # the network gave up
    BUFFERED = 4  # the network holds it (handset off, out of coverage)
    ACCEPTED = 8  # the carrier's SMSC took it
    REJECTED = 16  # the carrier's SMSC refused it


ALL_RECEIPTS = (
    Receipt.DELIVERED
    | Receipt.UNDELIVERABLE
    | Receipt.BUFFERED
    | Receipt.ACCEPTED
    | Receipt.REJECTED
)


@dataclass(frozen=True)
class ReceiptOutcome:
    status: str | None  # delivered or failed; None: nothing to change on record
    error: str | None = None


def receipt_outcome(code: int, answer: str = "") -> ReceiptOutcome:
    """What a delivery report means for the message on record. `answer`: the carrier's own
    words (Kannel's `%A`), kept with a failure."""
    said = f" ({answer.strip()[:200]})" if answer.strip() else ""
    if code == Receipt.DELIVERED:
        return ReceiptOutcome("delivered")
    if code == Receipt.UNDELIVERABLE:
        return ReceiptOutcome("failed", f"the network could not deliver it{said}")
    if code == Receipt.REJECTED:
        return ReceiptOutcome("failed", f"the carrier refused it{said}")
    # Buffered or accepted by the carrier: it is on its way, as `sent` already says.
    return ReceiptOutcome(None)


def make_receipt_token(message_id: int, secret: bytes) -> str:
    """The path a message's delivery reports come back by: only the gateway that was given it
    can report on that message, and on no other."""
    return sign_token(TokenPurpose.SMS_RECEIPT, {"m": message_id}, secret)


def read_receipt_token(token: str, secret: bytes) -> int | None:
    """The message a report is about; None when the token is not one of ours."""
    try:
        message_id = read_signed_token(TokenPurpose.SMS_RECEIPT, token, secret)["m"]
    except (TokenError, KeyError):
        return None
    return message_id if isinstance(message_id, int) and message_id > 0 else None


@dataclass(frozen=True)
class OutgoingSms:
    to: str  # E.164
    text: str
    encoding: SmsEncoding
    receipt_url: str  # where the gateway reports what became of it


def sendsms_query(config: SmsConfig, sms: OutgoingSms) -> dict[str, str]:
    """The sendsms request's parameters."""
    return {
        "username": config.username,
        "password": config.password.get_secret_value(),
        "from": config.sender,
        "to": sms.to,
        "text": sms.text,
        "charset": "UTF-8",
        "coding": _CODING[sms.encoding],
        "dlr-mask": str(int(ALL_RECEIPTS)),
        # Kannel fills in %d (the report type) and %A (the carrier's answer) when it calls.
        "dlr-url": f"{sms.receipt_url}?status=%d&answer=%A",
    }


class KannelSmsChannel:
    def __init__(self, config: SmsConfig) -> None:
        self._config = config

    @property
    def callback_url(self) -> str:
        return str(self._config.callback_url).rstrip("/")

    def accepts_inbound(self, token: str) -> bool:
        """Is `token` the one the gateway's reply URL carries? (Compared in constant time.)"""
        expected = self._config.inbound_token.get_secret_value().encode()
        return hmac.compare_digest(token.encode(), expected)

    async def send(self, sms: OutgoingSms) -> None:
        """Hand the message to the gateway; returns once it accepted it (202)."""
        config = self._config
        url = str(config.sendsms_url)
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=config.timeout)) as http,
                http.get(url, params=sendsms_query(config, sms)) as response,
            ):
                said = (await response.text()).strip()[:200]
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            reason = str(error) or type(error).__name__
            raise SmsNotSent(f"the SMS gateway at {url} could not be reached ({reason})") from None
        if not 200 <= status < 300:
            raise SmsNotSent(f"the SMS gateway said {status} {said}".rstrip())
