"""A real softphone for tests: baresip (Debian's `baresip-core`) run headless with a config
folder of its own, sending a WAV file as its microphone and writing what it hears to WAV files.

What baresip 1.0.0 does that shapes this (tried on the project's machine):
- `aufile` is only an audio source (a 8 kHz 16-bit mono WAV for PCMU); there is no player, so
  the phone plays nothing. `sndfile` is an audio filter that writes, per call, into `snd_path`:
  `dump-<local time to the second>-enc.wav` (what the phone sent) and `...-dec.wav` (what it
  heard), 8 kHz 16-bit mono, their headers complete once the call ends.
- `sip_listen host:port` binds UDP and TCP on the port and TCP on the port after it, so all
  three must be free.
- The address in its SDP is `net_interface`'s (else the first network card's, not loopback).
- An incoming INVITE is answered only by an account whose user is the Request-URI's user ("UA
  not found" otherwise): a trunk's far end names its account after the number dialled.
- The `stdio` module reads commands from standard input, a pipe here (`/hangup`, `/quit`); it
  warns that the pipe is no terminal and works all the same. `menu` runs the commands and the
  auto answer; `statmode_default off` keeps it from printing call statistics ten times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port, free_udp_range, port_is_free

log = structlog.get_logger(__name__)

PACKAGE = "baresip-core"
_READY = "baresip is ready."
_ESTABLISHED = "Call established"
_TERMINATED = " terminated (duration"

_CONFIG = """\
poll_method epoll
sip_listen {host}:{port}
net_interface {host}
rtp_ports {rtp_start}-{rtp_end}
call_local_timeout 120
call_max_calls 4
audio_source aufile,{source}
module_path {modules}
module stdio.so
module g711.so
module aufile.so
module sndfile.so
module_tmp account.so
module_app menu.so
statmode_default off
snd_path {heard}
"""


def free_sip_port(host: str) -> int:
    """A UDP port whose TCP twin and the TCP port after it are free too (baresip binds all
    three)."""
    for _ in range(50):
        port = free_port(host, socket.SOCK_DGRAM)
        if port < 65535 and all(
            port_is_free(host, p, socket.SOCK_STREAM) for p in (port, port + 1)
        ):
            return port
    raise SandboxError(f"no free SIP port (UDP and TCP, and TCP after it) on {host}")


class BaresipPhone:
    """`async with BaresipPhone("agent-001", tone, password="pw", registrar=(host, port))`
    registers with the PBX and answers every call, sending `source`; without `registrar` it
    only listens on `host` (a trunk's far end: name it after the number dialled). `heard()`
    lists the recordings of what it heard, one per call."""

    def __init__(
        self,
        user: str,
        source: Path,
        *,
        password: str | None = None,
        registrar: tuple[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        binary: str = "baresip",
        modules: Path = Path("/usr/lib/baresip/modules"),
    ) -> None:
        if registrar is not None and not password:
            raise SandboxError(f"phone {user}: a registering phone needs a password")
        self.user = user
        self.source = source
        self.password = password
        self.registrar = registrar
        self.host = host
        self.port = port
        self.binary = binary
        self.modules = modules
        self.dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> BaresipPhone:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def log_text(self) -> str:
        path = self.dir / "baresip.log" if self.dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    @property
    def answered(self) -> int:
        """Calls established so far."""
        return self.log_text.count(_ESTABLISHED)

    @property
    def calls_ended(self) -> int:
        """Calls over so far (their recordings are then complete, or soon are)."""
        return self.log_text.count(_TERMINATED)

    @property
    def registered(self) -> bool:
        # menu prints "<aor>: {0/UDP/v4} 200 OK (<server>) [1 binding]" when the PBX accepts.
        return any("200 OK" in line and "binding" in line for line in self.log_text.splitlines())

    def heard(self) -> list[Path]:
        """What the phone heard, a WAV file per call, oldest first."""
        if self.dir is None:
            return []
        return sorted((self.dir / "heard").glob("dump-*-dec.wav"))

    def account_line(self) -> str:
        common = "answermode=auto;audio_codecs=pcmu"
        if self.registrar is None:
            return f"<sip:{self.user}@{self.host}:{self.port}>;regint=0;{common}"
        host, port = self.registrar
        return f"<sip:{self.user}@{host}:{port}>;auth_pass={self.password};regint=600;{common}"

    async def start(self) -> None:
        if self.running:
            raise SandboxError(f"phone {self.user} is already running")
        self.binary = processes.require_binary(self.binary, package=PACKAGE)
        if not self.source.is_file():
            raise SandboxError(f"phone {self.user}: no audio file {self.source}")
        self.dir = Path(tempfile.mkdtemp(prefix=f"pbx-baresip-{self.user.lstrip('+')}-"))
        processes.remove_at_exit(self.dir)
        try:
            await self._launch()
            await self._wait_for(lambda: _READY in self.log_text, 10, "to start")
            if self.registrar is not None:
                await self._wait_for(lambda: self.registered, 10, "to register")
        except BaseException:
            await self.stop()
            raise
        log.info("sandbox.baresip_started", user=self.user, port=self.port)

    def _write_config(self) -> None:
        assert self.dir is not None
        self.port = self.port or free_sip_port(self.host)
        rtp_start = free_udp_range(self.host, 40, start=40000, stop=50000)
        (self.dir / "heard").mkdir()
        (self.dir / "config").write_text(
            _CONFIG.format(
                host=self.host,
                port=self.port,
                rtp_start=rtp_start,
                rtp_end=rtp_start + 39,
                source=self.source,
                modules=self.modules,
                heard=self.dir / "heard",
            )
        )
        (self.dir / "accounts").write_text(self.account_line() + "\n")
        (self.dir / "contacts").write_text("")

    async def _launch(self) -> None:
        assert self.dir is not None
        self._write_config()
        self._process = await processes.launch(
            [self.binary, "-f", str(self.dir)],
            what=f"baresip {self.user}",
            log_file=self.dir / "baresip.log",
            stdin=asyncio.subprocess.PIPE,  # its commands go in here
        )

    async def _wait_for(self, condition, timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if not self.running:
                raise SandboxError(
                    f"baresip {self.user} exited before it came {what}: {self.log_text[-800:]}"
                )
            if asyncio.get_running_loop().time() > deadline:
                raise SandboxError(
                    f"baresip {self.user} failed {what} within {timeout:.0f} s: "
                    f"{self.log_text[-800:]}"
                )
            await asyncio.sleep(0.05)

    async def command(self, text: str) -> None:
        """A long command of baresip's menu, as typed after `/` (hangup, dial URI, quit)."""
        if not self.running or self._process is None or self._process.stdin is None:
            raise SandboxError(f"phone {self.user} is not running")
        self._process.stdin.write(f"/{text}\n".encode())
        await self._process.stdin.drain()

    async def hang_up(self) -> None:
        await self.command("hangup")

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.returncode is None and process.stdin is not None:
                # /quit unregisters first, as a phone switched off does.
                with contextlib.suppress(ConnectionError):
                    process.stdin.write(b"/quit\n")
                    await process.stdin.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 3)
            await processes.end(process, f"baresip {self.user}", hard=True)
            log.info("sandbox.baresip_stopped", user=self.user)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None
