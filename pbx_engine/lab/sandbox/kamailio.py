"""Kamailio (Debian's package) with the project's kamailio/kamailio.cfg, filled in as
`pbx-engine kamailio render` does, in front of Asterisk nodes, for the cluster tests:
`async with KamailioSandbox(nodes) as proxy:` sends carriers' calls to `proxy.host:proxy.port`;
`proxy.dispatched()`, `proxy.nodes_down()` and `proxy.failovers()` read what it did from its log.

Kamailio forks its workers and runs in the foreground (`-DD`), logging to stderr (`-E`) into
the sandbox's folder; it is ready once it answers an OPTIONS request of ours.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog

from pbx_engine.edge.kamailio import EdgeSettings, write_edge
from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
_DISPATCHED = re.compile(r"call \S+ to node (sip:\S+)")
_DOWN = re.compile(r"node (sip:\S+) down")
_UP = re.compile(r"node (sip:\S+) up")
_FAILOVER = re.compile(r"call \S+: node failed, trying (sip:\S+)")
_START_ATTEMPTS = 3


def node_uri(host: str, port: int) -> str:
    return f"sip:{host}:{port}"


class KamailioSandbox:
    def __init__(
        self,
        nodes: Sequence[tuple[str, int]],
        *,
        host: str = HOST,
        probe_seconds: int = 1,
        boot_timeout: float = 15.0,
    ) -> None:
        self.nodes = [node_uri(h, p) for h, p in nodes]
        self.host = host
        self.port = 0
        self._probe = probe_seconds
        self._boot_timeout = boot_timeout
        self.dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def log_file(self) -> Path:
        assert self.dir is not None
        return self.dir / "kamailio.log"

    async def __aenter__(self) -> KamailioSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        binary = processes.require_binary("kamailio", package="kamailio")
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-kamailio-"))
        processes.remove_at_exit(self.dir)
        for attempt in range(1, _START_ATTEMPTS + 1):
            # The port can be taken between its choice and Kamailio's bind: a new one then.
            self.port = free_port(self.host, socket.SOCK_DGRAM)
            settings = EdgeSettings.checked(f"udp:{self.host}:{self.port}", self.nodes, self._probe)
            config = write_edge(self.dir, settings)
            self._process = await processes.launch(
                [binary, "-f", str(config), "-DD", "-E", "-Y", str(self.dir), "-m", "64"],
                what="kamailio",
                log_file=self.log_file,
            )
            try:
                await self._wait_ready()
                break
            except SandboxError as error:
                await processes.end(self._process, "kamailio", grace=2)
                self._process = None
                if "exited" not in str(error) or attempt == _START_ATTEMPTS:
                    raise
                log.warning("sandbox.kamailio_start_retried", port=self.port)
        log.info("sandbox.kamailio_ready", port=self.port, nodes=self.nodes)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._boot_timeout
        while True:
            assert self._process is not None
            if self._process.returncode is not None:
                raise SandboxError(f"kamailio exited at once: {self._log_tail()}")
            if await sip_options(self.host, self.port, timeout=0.5):
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"kamailio did not answer OPTIONS: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log_file.read_text(errors="replace")[-1500:] if self.log_file.exists() else ""

    async def stop(self) -> None:
        if self._process is not None:
            await processes.end(self._process, "kamailio")
            self._process = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None

    def dispatched(self) -> list[str]:
        """The node each new call was sent to first, in order."""
        return _DISPATCHED.findall(self._log())

    def nodes_down(self) -> list[str]:
        """Nodes taken out of the rotation, in order (a node may go down and up again)."""
        return _DOWN.findall(self._log())

    def nodes_up(self) -> list[str]:
        return _UP.findall(self._log())

    def failovers(self) -> list[str]:
        """The node each call that failed on its first node was tried on next."""
        return _FAILOVER.findall(self._log())

    def _log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.dir else ""


async def sip_options(host: str, port: int, *, timeout: float) -> bool:
    """Whether a SIP server at host:port (UDP) answers an OPTIONS request with a 200."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answered.done():
                answered.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=(host, port))
    try:
        local_host, local_port = transport.get_extra_info("sockname")[:2]
        tag = uuid.uuid4().hex[:10]
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local_host}:{local_port};branch=z9hG4bK{tag};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{local_host}>;tag={tag}\r\n"
            f"To: <sip:{host}:{port}>\r\n"
            f"Call-ID: {tag}@{local_host}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        transport.sendto(request.encode())
        try:
            reply = await asyncio.wait_for(answered, timeout)
        except TimeoutError:
            return False
        return reply.startswith(b"SIP/2.0 200")
    except OSError:  # nothing there: the ICMP refusal surfaces as an error on the socket
        return False
    finally:
        transport.close()
