"""A real SMTP server for the tests and the demo: aiosmtpd (from PyPI) run as its own process,
on a free port, requiring STARTTLS with a certificate made for it (the engine checks it
against that certificate, as it would a private relay's CA), delivering every message into a
Maildir the test reads. `async with SmtpSandbox() as smtp:` ... `smtp.messages()`."""

from __future__ import annotations

import asyncio
import mailbox
import re
import shutil
import sys
import tempfile
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox import process as processes

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"


class SmtpSandbox:
    def __init__(self, *, starttls: bool = True, boot_timeout: float = 15.0) -> None:
        self.starttls = starttls
        self.host = HOST
        self.port = 0
        self._boot_timeout = boot_timeout
        self.dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def maildir(self) -> Path:
        assert self.dir is not None
        return self.dir / "Maildir"

    @property
    def certificate(self) -> Path:
        """The server's self-signed certificate: the CA a client must trust to reach it."""
        assert self.dir is not None
        return self.dir / "cert.pem"

    async def __aenter__(self) -> SmtpSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-smtp-"))
        processes.remove_at_exit(self.dir)
        args = [sys.executable, "-m", "aiosmtpd", "-n"]
        if self.starttls:
            cert, key = await processes.self_signed_certificate(
                self.dir, HOST, what="the SMTP sandbox"
            )
            args += ["--tlscert", str(cert), "--tlskey", str(key)]
        mailbox = ["-c", "aiosmtpd.handlers.Mailbox", str(self.maildir)]
        try:
            self._process, self.port = await processes.launch_on_free_port(
                lambda port: [*args, "-l", f"{HOST}:{port}", *mailbox],
                host=self.host,
                what="aiosmtpd",
                log_file=self.dir / "smtp.log",
                timeout=self._boot_timeout,
            )
        except BaseException:
            await self.stop()
            raise
        log.info("sandbox.smtp_ready", port=self.port, starttls=self.starttls)

    def _log_tail(self) -> str:
        assert self.dir is not None
        log_file = self.dir / "smtp.log"
        return log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""

    def messages(self) -> list[EmailMessage]:
        """Every message delivered so far, oldest first."""
        if not self.maildir.exists():
            return []
        box = mailbox.Maildir(self.maildir, create=False)
        found = []
        for key in sorted(box.keys(), key=_delivery_order):
            with box.get_file(key) as raw:
                found.append(message_from_bytes(raw.read(), policy=default))
        return found  # type: ignore[return-value]

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await processes.end(process, "aiosmtpd", grace=2)
            log.info("sandbox.smtp_stopped", delivered=len(self.messages()))
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None


def _delivery_order(key: str) -> tuple[int, int]:
    """Python's Maildir names a message `SECONDS.M<usec>P<pid>Q<count>.host`: the seconds,
    then the server's own delivery count (unpadded numbers: a string sort would mix them)."""
    found = re.match(r"^(\d+)\.M\d+P\d+Q(\d+)", key)
    return (int(found[1]), int(found[2])) if found else (0, 0)
