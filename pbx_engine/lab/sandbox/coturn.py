"""A real TURN server for the browser tests: Debian's coturn (`turnserver`) on loopback, with
coturn's time-limited credentials (`use-auth-secret`), as a centre runs it for agents and
guests whose networks let no media through but TURN's.

`async with TurnSandbox() as turn:` ... `turn.webrtc_config(relay_only=True)`; `turn.allocations()`
counts the relays it made (from its log), so a test can tell media went through it.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
from pathlib import Path

import structlog

from pbx_engine.config import WebrtcConfig
from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.ports import free_udp_range

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
REALM = "pbx-engine"


def outward_address() -> str:
    """This host's address towards the rest of the network (where its default route leaves);
    its loopback when it has none. No packet is sent: a UDP socket is only pointed there."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: reached by the default route
        except OSError:
            return HOST
        return probe.getsockname()[0]


class TurnSandbox:
    def __init__(self, *, boot_timeout: float = 10.0) -> None:
        self.secret = secrets.token_urlsafe(24)
        self.port = 0
        self._boot_timeout = boot_timeout
        self.dir: Path | None = None
        self._process = None

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "turnserver.log"

    @property
    def output_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "output.log"

    def webrtc_config(self, *, relay_only: bool = False) -> WebrtcConfig:
        """The engine's [webrtc] for this server: TURN over UDP (and TCP), its secret."""
        return WebrtcConfig(
            turn_urls=[
                f"turn:{HOST}:{self.port}?transport=udp",
                f"turn:{HOST}:{self.port}?transport=tcp",
            ],
            turn_secret=self.secret,
            relay_only=relay_only,
        )

    def allocations(self) -> int:
        """Relays it has made so far (each browser call through it makes one)."""
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return text.count("ALLOCATE processed, success")

    async def __aenter__(self) -> TurnSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        binary = processes.require_binary("turnserver", package="coturn")
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-turn-"))
        processes.remove_at_exit(self.dir)
        relay_ip = outward_address()
        relays = free_udp_range(relay_ip, 200, start=50000, stop=60000)

        def command(port: int) -> list[str]:
            return [
                binary,
                # No configuration file: Debian's /etc/turnserver.conf would send the log to
                # syslog, where a test cannot read it.
                "-n",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                f"--listening-ip={HOST}",
                f"--listening-port={port}",
                # Relayed addresses on the host's own outward address: Asterisk answers a relay
                # from the address its ICE candidate names (towards 127.0.0.1 it would come
                # from 127.0.0.1, which the browser never gave a permission to).
                f"--relay-ip={relay_ip}",
                f"--min-port={relays}",
                f"--max-port={relays + 199}",
                "--use-auth-secret",
                f"--static-auth-secret={self.secret}",
                f"--realm={REALM}",
                # The browser and Asterisk are on this host: the relay must reach loopback
                # peers, which coturn refuses by default (they are a TURN server's own side).
                "--allow-loopback-peers",
                "--no-multicast-peers",
                "--fingerprint",
                f"--pidfile={self.dir / 'turnserver.pid'}",
                f"--userdb={self.dir / 'turndb'}",
                f"--log-file={self.log_file}",
                "--simple-log",
                "--verbose",
            ]

        self._process, self.port = await processes.launch_on_free_port(
            command,
            host=HOST,
            what="turnserver",
            log_file=self.output_file,
            timeout=self._boot_timeout,
        )
        log.info("sandbox.turn_ready", port=self.port, relay_ip=relay_ip)

    async def stop(self) -> None:
        if self._process is not None:
            await processes.end(self._process, "turnserver", grace=2)
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None
