"""Debtors' e-mail replies, read from the centre's mailbox over IMAP (implicit TLS, `[imap]`).

Every `poll_seconds` the reader logs in, reads each unseen message of the folder without
marking it (BODY.PEEK), hands it to the message service, and only then marks it seen: a reply
the service could not keep (the database away) stays unseen and is read again at the next
look, and one read twice is kept once (by its Message-ID). A mailbox that cannot be reached is
said in the log each time and tried again at the next look; nothing is lost meanwhile, the
messages wait on the server.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import aioimaplib
import structlog

from pbx_engine.config import ImapConfig
from pbx_engine.messaging.email_replies import read_reply
from pbx_engine.messaging.service import MessageService

log = structlog.get_logger(__name__)

_UIDS = re.compile(rb"\d+")


class MailboxError(Exception):
    """The mailbox could not be read: the server's answer, or why it could not be reached."""


class ReplyMailbox:
    def __init__(self, config: ImapConfig, messages: MessageService) -> None:
        self._config = config
        self._messages = messages

    async def run(self) -> None:
        """Until cancelled: read the mailbox, then wait `poll_seconds`."""
        while True:
            try:
                await self.read_once()
            except MailboxError as error:
                log.warning("mailbox.unreadable", error=str(error))
            except Exception as error:  # the database away, say: the replies wait unseen
                log.warning("mailbox.reply_not_kept", error=str(error) or type(error).__name__)
            await asyncio.sleep(self._config.poll_seconds)

    async def read_once(self) -> int:
        """Read every unseen message once; how many were handed to the service."""
        config = self._config
        client = aioimaplib.IMAP4_SSL(
            host=config.host, port=config.port, timeout=config.timeout, ssl_context=self._tls()
        )
        try:
            await _ok(client.wait_hello_from_server(), "connect")
            await _ok(client.login(config.username, config.password.get_secret_value()), "login")
            await _ok(client.select(config.folder), f"select {config.folder}")
            found = await _ok(client.uid_search("UNSEEN"), "search")
            handed = 0
            for uid in _UIDS.findall(b" ".join(found.lines[:-1])):
                message = await self._fetch(client, uid.decode())
                if message is not None:
                    await self._messages.email_reply(read_reply(message), _message_id(message))
                    handed += 1
                await _ok(client.uid("store", uid.decode(), "+FLAGS (\\Seen)"), "store")
            return handed
        finally:
            try:
                await asyncio.wait_for(client.logout(), timeout=5)
            except Exception:  # a session that never opened, or died: nothing to close
                pass

    async def _fetch(self, client: aioimaplib.IMAP4_SSL, uid: str) -> EmailMessage | None:
        response = await _ok(client.uid("fetch", uid, "(BODY.PEEK[])"), "fetch")
        # The literal (the message itself) is the one bytearray among the response's lines.
        raw = next((bytes(line) for line in response.lines if isinstance(line, bytearray)), None)
        if raw is None:
            log.warning("mailbox.empty_message", uid=uid)
            return None
        return message_from_bytes(raw, policy=default)  # type: ignore[return-value]

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self._config.ca_file is not None:
            context.load_verify_locations(cafile=str(self._config.ca_file))
        return context


def _message_id(message: EmailMessage) -> str | None:
    value = str(message.get("Message-ID", "")).strip()
    return value[:998] or None


async def _ok(step, what: str):
    """The response of an IMAP command that succeeded; MailboxError saying what failed."""
    try:
        response = await step
    except (OSError, TimeoutError, aioimaplib.Abort) as error:
        raise MailboxError(f"{what}: {error or type(error).__name__}") from None
    if response is not None and getattr(response, "result", "OK") != "OK":
        said = b" ".join(bytes(line) for line in response.lines[-1:]).decode(errors="replace")
        raise MailboxError(f"{what}: the server said {response.result} {said}")
    return response
