"""Private Asterisk instances: the engine's PBX and a second one acting as the phone network.

Each runs `asterisk -f` with its own asterisk.conf whose directories all point into a runtime
folder, built from the project's `asterisk-config/` and `dialplans/` with `@@NAME@@`
placeholders filled in (a syntax that cannot clash with the dialplan's `${VAR}`).
"""

from __future__ import annotations

import asyncio
import atexit
import enum
import os
import secrets
import shutil
import signal
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import structlog

from pbx_engine.ari.errors import basic_auth
from pbx_engine.resources import ASTERISK_CONFIG_DIR, DIALPLANS_DIR
from pbx_engine.sandbox.audio import make_test_sounds
from pbx_engine.sandbox.errors import SandboxError
from pbx_engine.sandbox.ports import free_port, free_udp_range, require_free

log = structlog.get_logger(__name__)

ENGINE_HOST = "127.0.0.1"
# The phone network listens on another loopback address, so the engine's PBX tells the trunk
# (identified by address) from agents' softphones on 127.0.0.1.
PSTN_HOST = "127.0.0.2"

_RUNNING: set[AsteriskSandbox] = set()


class PstnBehaviour(enum.Enum):
    """What the PSTN sandbox does with a call, by the dialled number's last digit."""

    HUMAN = "0"
    MACHINE = "1"
    BUSY = "2"
    NO_ANSWER = "3"
    REJECT = "4"
    TALK = "5"
    HUMAN_LONG_HELLO = "6"
    MACHINE_NO_BEEP = "7"
    UNALLOCATED = "8"
    SILENT = "9"

    def number(self, prefix: str = "+1202555010") -> str:
        """An E.164 number (US, fictional 555 range) that triggers this behaviour."""
        return prefix + self.value


@dataclass(eq=False)
class AsteriskSandbox:
    profile: str  # "engine" or "pstn": a folder of asterisk-config/ and a file of dialplans/
    sip_host: str
    peer_host: str
    peer_port: int
    sip_port: int = 0
    ari_app: str = "pbx-engine"
    agi_url: str = "agi://127.0.0.1:4573"
    agents: dict[str, str] = field(default_factory=dict)  # endpoint name -> password
    binary: str = "asterisk"
    keep: bool = False
    boot_timeout: float = 30.0
    http_port: int = 0
    ami_port: int = 0
    ari_username: str = field(default_factory=lambda: "engine-" + secrets.token_hex(3))
    ari_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    ami_username: str = "engine"
    ami_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    run_dir: Path | None = None
    _process: asyncio.subprocess.Process | None = None
    _rtp_start: int = 0

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def sounds_dir(self) -> Path:
        assert self.run_dir is not None
        return self.run_dir / "sounds"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def __aenter__(self) -> AsteriskSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    # ---------------------------------------------------------------- life cycle
    async def start(self) -> None:
        path = shutil.which(self.binary)
        if path is None:
            raise SandboxError(
                f"Asterisk binary {self.binary!r} not found (install it with scripts/setup.sh)"
            )
        self.binary = path
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"pbx-{self.profile}-"))
        self._choose_ports()
        self._write_config()
        make_test_sounds(self.sounds_dir)
        await self._launch()

    async def restart(self, *, crash: bool = False) -> None:
        """Stop and start again on the same ports and credentials. `crash` kills Asterisk
        outright (SIGKILL): no hang-ups, no events, as after a power cut or an OOM kill."""
        await self._terminate(crash=crash)
        await self._launch()

    async def stop(self) -> None:
        await self._terminate()
        _RUNNING.discard(self)
        if self.run_dir is not None and not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _choose_ports(self) -> None:
        if not self.sip_port:
            self.sip_port = free_port(self.sip_host, socket.SOCK_DGRAM)
        if not self.http_port:
            self.http_port = free_port(ENGINE_HOST)
        if not self.ami_port:
            self.ami_port = free_port(ENGINE_HOST)
        if not self._rtp_start:
            base = 20000 if self.profile == "engine" else 40000
            self._rtp_start = free_udp_range("0.0.0.0", 2000, start=base, stop=base + 20000)

    async def _launch(self) -> None:
        assert self.run_dir is not None
        require_free(self.sip_host, self.sip_port, socket.SOCK_DGRAM, f"{self.profile} SIP")
        require_free(ENGINE_HOST, self.http_port, socket.SOCK_STREAM, f"{self.profile} HTTP/ARI")
        require_free(ENGINE_HOST, self.ami_port, socket.SOCK_STREAM, f"{self.profile} AMI")
        for sub in ("lib", "spool", "run", "log", "agi-bin"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        console = open(self.run_dir / "log" / "console.log", "ab")  # noqa: ASYNC230, SIM115
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.binary,
                "-C",
                str(self.run_dir / "etc" / "asterisk.conf"),
                "-f",
                "-n",
                "-q",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
            )
        finally:
            console.close()
        _RUNNING.add(self)
        log.info(
            "sandbox.asterisk_starting",
            profile=self.profile,
            pid=self._process.pid,
            http_port=self.http_port,
            sip=f"{self.sip_host}:{self.sip_port}",
        )
        try:
            await self._wait_booted()
        except BaseException:
            await self._terminate()
            raise

    async def _wait_booted(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.boot_timeout
        headers = {"Authorization": basic_auth(self.ari_username, self.ari_password)}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                if not self.running:
                    raise SandboxError(
                        f"{self.profile} Asterisk exited during start-up:\n{self.log_tail()}"
                    )
                try:
                    async with session.get(
                        f"{self.ari_url}/ari/asterisk/info", timeout=aiohttp.ClientTimeout(total=2)
                    ) as response:
                        if response.status == 200 and await self._fully_booted():
                            log.info("sandbox.asterisk_ready", profile=self.profile)
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if loop.time() > deadline:
                    raise SandboxError(
                        f"{self.profile} Asterisk did not answer ARI within "
                        f"{self.boot_timeout:.0f} s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.2)

    async def _fully_booted(self) -> bool:
        output = await self.cli("core waitfullybooted")
        return "fully booted" in output.lower()

    async def _terminate(self, *, crash: bool = False) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        signals = (
            ((signal.SIGKILL, 5.0),) if crash else ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0))
        )
        for sig, wait in signals:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                await asyncio.wait_for(process.wait(), wait)
                log.info("sandbox.asterisk_stopped", profile=self.profile)
                return
            except TimeoutError:
                continue

    # ---------------------------------------------------------------- helpers
    async def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command on this instance (`asterisk -rx`)."""
        assert self.run_dir is not None
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "-C",
            str(self.run_dir / "etc" / "asterisk.conf"),
            "-rx",
            command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SandboxError(f"CLI command {command!r} timed out") from None
        return output.decode(errors="replace")

    async def originate(
        self,
        endpoint: str,
        *,
        context: str,
        extension: str = "s",
        caller_id: str | None = None,
        timeout: int = 30,
    ) -> str:
        """Place a call from this instance (the PSTN calling the engine's DID, say) through its
        own ARI; the answered leg runs `extension@context`. Returns the channel id."""
        params = {
            "endpoint": endpoint,
            "context": context,
            "extension": extension,
            "priority": "1",
            "timeout": str(timeout),
        }
        if caller_id:
            params["callerId"] = caller_id
        headers = {"Authorization": basic_auth(self.ari_username, self.ari_password)}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.post(f"{self.ari_url}/ari/channels", params=params) as response,
        ):
            body = await response.json(content_type=None)
            if response.status != 200:
                raise SandboxError(f"{self.profile} originate to {endpoint} failed: {body}")
            return body["id"]

    def log_text(self) -> str:
        assert self.run_dir is not None
        parts = []
        for name in ("console.log", "messages"):
            path = self.run_dir / "log" / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _write_config(self) -> None:
        assert self.run_dir is not None
        etc = self.run_dir / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        values = {
            "RUN_DIR": str(self.run_dir),
            "MODULES_DIR": "/usr/lib/asterisk/modules",
            "DATA_DIR": "/usr/share/asterisk",
            "HTTP_PORT": str(self.http_port),
            "ARI_USERNAME": self.ari_username,
            "ARI_PASSWORD": self.ari_password,
            "ARI_APP": self.ari_app,
            "AGI_URL": self.agi_url,
            "AMI_PORT": str(self.ami_port),
            "AMI_USERNAME": self.ami_username,
            "AMI_SECRET": self.ami_secret,
            "SIP_HOST": self.sip_host,
            "SIP_PORT": str(self.sip_port),
            "PEER_HOST": self.peer_host,
            "PEER_PORT": str(self.peer_port),
            "RTP_START": str(self._rtp_start),
            "RTP_END": str(self._rtp_start + 1999),
            "SOUNDS_DIR": str(self.sounds_dir),
            "AGENTS": _agent_sections(self.agents),
        }
        sources = [
            *sorted((ASTERISK_CONFIG_DIR / "common").glob("*.conf")),
            *sorted((ASTERISK_CONFIG_DIR / self.profile).glob("*.conf")),
        ]
        for source in sources:
            (etc / source.name).write_text(render(source.read_text(), values, source.name))
        dialplan = DIALPLANS_DIR / f"{self.profile}.conf"
        (etc / "dialplan.conf").write_text(render(dialplan.read_text(), values, dialplan.name))


def render(text: str, values: dict[str, str], name: str = "<template>") -> str:
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        start = text.index("@@")
        raise SandboxError(
            f"{name}: unknown placeholder {text[start : text.index('@@', start + 2) + 2]}"
        )
    return text


def _agent_sections(agents: dict[str, str]) -> str:
    sections = []
    for name, password in agents.items():
        sections.append(
            f"[{name}](agent-endpoint)\nauth = {name}\naors = {name}\n\n"
            f"[{name}](agent-aor)\n\n"
            f"[{name}](agent-auth)\nusername = {name}\npassword = {password}\n"
        )
    return "\n".join(sections)


@atexit.register
def _kill_strays() -> None:
    # A test run that dies without its fixtures' finalisers still leaves no Asterisk behind.
    for sandbox in list(_RUNNING):
        process = sandbox._process
        if process is not None and process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if sandbox.run_dir is not None and not sandbox.keep:
            shutil.rmtree(sandbox.run_dir, ignore_errors=True)


@dataclass
class Telephony:
    """The engine's PBX and the phone network, wired to each other."""

    engine: AsteriskSandbox
    pstn: AsteriskSandbox

    @classmethod
    def create(
        cls,
        *,
        ari_app: str = "pbx-engine",
        agi_url: str = "agi://127.0.0.1:4573",
        agents: dict[str, str] | None = None,
        keep: bool = False,
    ) -> Telephony:
        engine_sip = free_port(ENGINE_HOST, socket.SOCK_DGRAM)
        pstn_sip = free_port(PSTN_HOST, socket.SOCK_DGRAM)
        pstn = AsteriskSandbox(
            "pstn",
            sip_host=PSTN_HOST,
            sip_port=pstn_sip,
            peer_host=ENGINE_HOST,
            peer_port=engine_sip,
            keep=keep,
        )
        engine = AsteriskSandbox(
            "engine",
            sip_host=ENGINE_HOST,
            sip_port=engine_sip,
            peer_host=PSTN_HOST,
            peer_port=pstn_sip,
            ari_app=ari_app,
            agi_url=agi_url,
            agents=agents or {},
            keep=keep,
        )
        return cls(engine=engine, pstn=pstn)

    async def __aenter__(self) -> Telephony:
        await self.pstn.start()
        try:
            await self.engine.start()
        except BaseException:
            await self.pstn.stop()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        try:
            await self.engine.stop()
        finally:
            await self.pstn.stop()
