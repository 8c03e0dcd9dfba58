"""A real IMAP server for the tests and the demo: Dovecot (Debian's `dovecot-imapd`) run as its
own process from a configuration of its own, on a free port with implicit TLS and a certificate
made for it, one mailbox (the centre's, where debtors' replies arrive) in a folder of its own.
Mail reaches it as it reaches a real mailbox, through Dovecot's delivery agent (`dovecot-lda`).
`async with ImapSandbox() as imap:` ... `await imap.deliver(message)`."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import secrets
import shutil
import tempfile
from email.message import EmailMessage
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
USER = "replies@acme.example"
_LDA = "/usr/lib/dovecot/dovecot-lda"


class ImapSandbox:
    def __init__(self, *, boot_timeout: float = 15.0) -> None:
        self.host = HOST
        self.port = 0
        self.username = USER
        self.password = secrets.token_urlsafe(12)
        self._boot_timeout = boot_timeout
        self.dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def certificate(self) -> Path:
        """The server's self-signed certificate: the CA a client must trust to reach it."""
        assert self.dir is not None
        return self.dir / "cert.pem"

    @property
    def _config_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "dovecot.conf"

    async def __aenter__(self) -> ImapSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        binary = processes.require_binary("dovecot", package="dovecot-imapd")
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-imap-"))
        processes.remove_at_exit(self.dir)
        cert, key = await processes.self_signed_certificate(self.dir, HOST, what="the IMAP sandbox")

        def configure(port: int) -> None:
            self.port = port
            self._write_config(cert, key)

        try:
            self._process, self.port = await processes.launch_on_free_port(
                lambda port: [binary, "-F", "-c", str(self._config_file)],
                host=HOST,
                what="dovecot",
                log_file=self.dir / "dovecot.log",
                timeout=self._boot_timeout,
                prepare=configure,
            )
        except BaseException:
            await self.stop()
            raise
        log.info("sandbox.imap_ready", port=self.port, user=self.username)

    def _write_config(self, cert: Path, key: Path) -> None:
        assert self.dir is not None
        if not Path(_LDA).exists():
            raise SandboxError(f"{_LDA} is missing: install Debian's dovecot-core")
        # As root, Dovecot drops to its own users (the package's); as anyone else it runs as
        # that user throughout. The mailbox belongs to whoever its processes run as.
        if os.geteuid() == 0:
            internal, login = "dovecot", "dovenull"
            owner = pwd.getpwnam(internal)
        else:
            owner = pwd.getpwuid(os.geteuid())
            internal = login = owner.pw_name
        for folder in ("run", "state", "home"):
            (self.dir / folder).mkdir(exist_ok=True)  # exists when a start is tried again
        os.chown(self.dir / "home", owner.pw_uid, owner.pw_gid)
        users = self.dir / "users"
        users.write_text(f"{self.username}:{{PLAIN}}{self.password}\n")
        # Its auth process (the internal user) reads the users file; others get nothing.
        os.chmod(self.dir, 0o711)
        os.chown(users, pwd.getpwnam(internal).pw_uid, -1)
        os.chmod(users, 0o600)
        self._config_file.write_text(
            f"""# The IMAP sandbox: one mailbox, IMAPS only, everything in {self.dir}.
protocols = imap
listen = {HOST}
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = /dev/stderr
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal).pw_gid).gr_name}
default_login_user = {login}
first_valid_uid = {owner.pw_uid}
last_valid_uid = {owner.pw_uid}
first_valid_gid = {owner.pw_gid}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = {self.dir}/users
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={self.dir}/home/%u
}}
"""
        )

    async def deliver(self, message: EmailMessage | bytes) -> None:
        """Put `message` into the mailbox as a mail server would: through dovecot-lda."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        await processes.run(
            [_LDA, "-c", str(self._config_file), "-d", self.username],
            what="dovecot-lda",
            input=raw,
        )

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await processes.end(process, "dovecot", grace=2)
            log.info("sandbox.imap_stopped")
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None
