"""E-mail out through the centre's mail relay (SMTP, with STARTTLS or implicit TLS and a login).

Each message is plain text in UTF-8 with its own Message-ID (what a bounce or a reply refers
to), and carries List-Unsubscribe headers when the case has an unsubscribe link, so mail
programs offer the debtor a one-click opt-out beside the line in the text.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from pbx_engine.config import SmtpConfig


class EmailNotSent(Exception):
    """The relay refused the message or could not be reached; the reason says which."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    unsubscribe_link: str | None = None


class SmtpChannel:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._domain = email.utils.parseaddr(config.sender)[1].rpartition("@")[2] or None

    def compose(self, outgoing: OutgoingEmail) -> EmailMessage:
        config = self._config
        message = EmailMessage()
        message["From"] = config.sender
        message["To"] = outgoing.to
        message["Subject"] = outgoing.subject
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(domain=self._domain)
        if config.reply_to:
            message["Reply-To"] = config.reply_to
        if outgoing.unsubscribe_link:
            message["List-Unsubscribe"] = f"<{outgoing.unsubscribe_link}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(outgoing.body)
        return message

    async def send(self, outgoing: OutgoingEmail) -> str:
        """Hand the message to the relay; its Message-ID once the relay accepted it."""
        config = self._config
        message = self.compose(outgoing)
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password.get_secret_value() if config.password else None,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                cert_bundle=str(config.ca_file) if config.ca_file else None,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refused = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
            raise EmailNotSent(f"the relay refused the address ({refused})") from None
        except aiosmtplib.SMTPResponseException as error:
            raise EmailNotSent(f"the relay said {error.code} {error.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            reason = str(error) or type(error).__name__
            raise EmailNotSent(
                f"the mail relay at {config.host}:{config.port} could not be used ({reason})"
            ) from None
        return str(message["Message-ID"])
