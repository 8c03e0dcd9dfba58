"""Private Asterisk instances: the engine's PBX and a second one acting as the phone network.

Each runs `asterisk -C RUN_DIR/etc/asterisk.conf -f -n -q` with its own asterisk.conf whose
directories all point into a runtime folder, rendered by pbx_engine.asterisk_config (the same
code as `pbx-engine asterisk render` and the container's entrypoint) from the profile's
templates, with ports and credentials of the sandbox's own choosing.

Asterisk never runs as root: when the sandbox's owner is root (CI), Asterisk runs as the
`asterisk` user the Debian package creates, and the runtime folder is handed over to it (root
still reads the recordings and logs there).
"""

from __future__ import annotations

import asyncio
import enum
import re
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Literal

import aiohttp
import structlog

from pbx_engine.ari.errors import basic_auth
from pbx_engine.asterisk_config import (
    agent_sections,
    make_runtime_folders,
    render_profile,
    users,
    write_runtime,
)
from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.audio import install_sounds
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import (
    PortInUse,
    free_port,
    free_udp_range,
    port_is_free,
    require_free,
)
from pbx_engine.resources import ASTERISK_CONFIG_DIR, DIALPLANS_DIR

log = structlog.get_logger(__name__)

ENGINE_HOST = "127.0.0.1"
# The phone network listens on another loopback address (all of 127/8 is loopback on Linux), so
# the engine's PBX tells the trunk (identified by address) from agents' softphones on 127.0.0.1.
PSTN_HOST = "127.0.0.2"

MODULES_DIR = Path("/usr/lib/asterisk/modules")
DATA_DIR = Path("/usr/share/asterisk")

# Lines Asterisk logs when it cannot bind a port; it carries on without the service, so the
# sandbox must read them to tell "port taken" from "slow to boot".
_BIND_FAILURES = (
    # tcptls.c: Unable to bind http server to 127.0.0.1:8088: Address already in use
    re.compile(r"Unable to bind (?P<what>\w+) server to (?P<host>[\d.]+):(?P<port>\d+): Address"),
    # res_pjsip/config_transport.c: Transport 'transport-udp' could not be started: Address ...
    re.compile(r"Transport '(?P<what>[\w-]+)' could not be started: Address already in use"),
)
_ERROR_LINE = re.compile(r"^\[[^\]]*\] ERROR\[\d+\]")
# The Unix socket `asterisk -rx` talks to: sun_path holds 108 bytes with the final NUL.
_MAX_SOCKET_PATH = 107
# Who Asterisk runs as when the sandbox is started by root.
UNPRIVILEGED_USER = users.UNPRIVILEGED_USER


def unprivileged_ids(user: str = UNPRIVILEGED_USER) -> tuple[int, int] | None:
    """(uid, gid) to run Asterisk as when we are root; None when we are not (it runs as us)."""
    try:
        return users.unprivileged_ids(user)
    except users.AsteriskUserError as error:
        raise SandboxError(str(error)) from None


def _hand_over(folder: Path, uid: int, gid: int) -> None:
    try:
        users.hand_over(folder, uid, gid)
    except users.AsteriskUserError as error:
        raise SandboxError(str(error)) from None


class PstnBehaviour(enum.Enum):
    """What the PSTN sandbox does with a call, by the dialled number's LAST DIGIT (the table in
    dialplans/pstn.conf). `number()` gives a fictional E.164 number ending in that digit. The
    AMD verdicts are what app_amd says with asterisk-config/common/amd.conf (Asterisk's stock
    values), measured: about 3 s after the originate (1 s of ringing, 2 s of listening)."""

    HUMAN = "0"  # rings 1 s, "Hello?", then listens 20 s: HUMAN (HUMAN-800-800)
    # voicemail greeting and beep, then records 30 s (recordings_dir/machine-NUMBER-ID-T.wav, T
    # the beep's end in Unix time):
    # MACHINE (MAXWORDS-3-2)
    MACHINE = "1"
    BUSY = "2"  # busy at once: cause 17 (User busy), no answer
    NO_ANSWER = "3"  # rings for 10 minutes
    REJECT = "4"  # refused at once: cause 21 (Call rejected)
    TALK = "5"  # "Hello?", then talks on for up to 60 s: HUMAN
    # A person whose opening has three words: AMD's stock maximum_number_of_words=2 calls it
    # MACHINE (MAXWORDS-3-2), the classic false positive that AMD tuning has to deal with.
    HUMAN_LONG_HELLO = "6"  # "Hello, John speaking.", then listens 20 s
    MACHINE_NO_BEEP = "7"  # a greeting without a beep: MACHINE (LONGGREETING)
    UNALLOCATED = "8"  # no such number: cause 1 (Unallocated number)
    SILENT = "9"  # answers and says nothing for 30 s: MACHINE (INITIALSILENCE)

    def number(self, prefix: str = "+1202555010") -> str:
        """`prefix` + the digit; the default gives +1 202 555 010N (US, fictional 555-01XX)."""
        return prefix + self.value


# The phone network's fax machine: any number +1 202 555 099N answers with a fax calling tone.
FAX_NUMBER = "+12025550990"


def screening_number(owner_comes: bool, prefix: str = "+1202556000") -> str:
    """A phone whose call-screening assistant asks who calls, and thanks the caller once he has
    spoken; then its owner says "Hello?" (`owner_comes`) or nobody comes (dialplans/pstn.conf).
    `prefix` + 1 or 2: +1 202 556 0XXX are such phones."""
    if not prefix.startswith("+12025560") or len(prefix) != 11:
        raise ValueError(f"{prefix!r}: screening phones are +1 202 556 0XX + the last digit")
    return prefix + ("1" if owner_comes else "2")


class AsteriskSandbox:
    """One private Asterisk. `async with AsteriskSandbox("engine") as pbx:` or start()/stop().

    Ports left at 0 are chosen at start (and chosen afresh, once, if one turns out taken);
    ports given are used as they are and a taken one is a PortInUse error. Credentials are
    random per instance. restart() keeps ports and credentials."""

    def __init__(
        self,
        profile: str,
        *,
        sip_host: str = ENGINE_HOST,
        sip_port: int = 0,
        peer_host: str = PSTN_HOST,
        peer_port: int = 5060,
        http_port: int = 0,
        ami_port: int = 0,
        ari_app: str = "pbx-engine",
        agi_url: str = "agi://127.0.0.1:4573",
        agents: dict[str, str] | None = None,
        agent_rtp_timeout: int = 15,
        binary: str = "asterisk",
        modules_dir: Path = MODULES_DIR,
        run_dir: Path | None = None,
        keep: bool = False,
        boot_timeout: float = 30.0,
        strict: bool = True,
    ) -> None:
        self.profile = profile
        self.sip_host = sip_host
        self.sip_port = sip_port
        self.peer_host = peer_host
        self.peer_port = peer_port
        self.http_port = http_port
        self.ami_port = ami_port
        self.ari_app = ari_app
        self.agi_url = agi_url
        self.agents = dict(agents or {})  # endpoint name (agent-NNN) -> SIP password
        self.agent_rtp_timeout = agent_rtp_timeout
        self.binary = binary
        self.modules_dir = modules_dir
        self.run_dir = run_dir
        self._given_run_dir = run_dir
        self.keep = keep
        self.boot_timeout = boot_timeout
        # Any ERROR in the boot log fails start(): the sandbox's configuration is ours, and an
        # error there (a module that declined, a file Asterisk could not parse) is a bug.
        self.strict = strict
        self.ari_username = "engine-" + secrets.token_hex(3)
        self.ari_password = secrets.token_urlsafe(18)
        self.ami_username = "engine-" + secrets.token_hex(3)
        self.ami_secret = secrets.token_urlsafe(18)
        self.boot_seconds: float | None = None  # how long the last start or restart took
        self._fixed_ports = {"sip": bool(sip_port), "http": bool(http_port), "ami": bool(ami_port)}
        self._rtp_start = 0
        self._made_run_dir = False
        self._process: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    # ------------------------------------------------------------------ properties
    @property
    def ari_url(self) -> str:
        """Base URL of the HTTP server: ARI is under `{ari_url}/ari/...`."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ari_port(self) -> int:
        return self.http_port

    @property
    def ari_headers(self) -> dict[str, str]:
        """Basic auth in a header (aiohttp deprecates `auth=`; ARI wants no api_key in URLs)."""
        return {"Authorization": basic_auth(self.ari_username, self.ari_password)}

    @property
    def sounds_dir(self) -> Path:
        return self._dir() / "sounds"

    @property
    def recordings_dir(self) -> Path:
        """Where the dialplan's Record() writes: the PSTN's machines record what they hear."""
        return self._dir() / "recordings"

    @property
    def ari_recordings_dir(self) -> Path:
        """Where ARI's recordings go (astspooldir/recording): the engine's call recordings."""
        return self._dir() / "spool" / "recording"

    @property
    def config_file(self) -> Path:
        return self._dir() / "etc" / "asterisk.conf"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.profile} sip={self.sip_host}:{self.sip_port} "
            f"http={self.http_port} ami={self.ami_port} running={self.running}>"
        )

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> AsteriskSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Build the runtime folder, start Asterisk and return once it is fully booted and ARI
        answers. Any failure stops what was started and raises a SandboxError saying why."""
        if self.running:
            raise SandboxError(f"{self.profile} Asterisk is already running")
        self.binary = processes.require_binary(self.binary, package="asterisk")
        self._check_install()
        try:
            self._make_run_dir()
            await install_sounds(self.sounds_dir)
            for attempt in (1, 2):
                self._choose_ports()
                self._write_config()
                try:
                    await self._launch()
                    return
                except PortInUse as taken:
                    if attempt == 2 or not self._forget_chosen_port(taken):
                        raise
                    log.warning("sandbox.asterisk_port_taken_retrying", error=str(taken))
        except BaseException as error:
            await self.stop()
            if isinstance(error, SandboxError) and self.keep and self.run_dir is not None:
                error.add_note(f"runtime folder kept: {self.run_dir}")
            raise

    async def restart(self, *, crash: bool = False, down_for: float = 0.0) -> None:
        """Stop and start the same instance: same folder, ports and credentials, so clients
        reconnect to where they were. `crash` kills it outright (SIGKILL: no hang-ups, no
        events), as after a power cut or an OOM kill; `down_for` seconds pass between the two
        (an outage, a maintenance window)."""
        if self.run_dir is None or not self.config_file.exists():
            raise SandboxError(
                f"{self.profile} Asterisk is not started (or was stopped): cannot restart"
            )
        await self._terminate(hard=crash)
        if down_for:
            log.info("sandbox.asterisk_down", profile=self.profile, seconds=down_for)
            await asyncio.sleep(down_for)
        log.info("sandbox.asterisk_restarting", profile=self.profile, crash=crash)
        await self._launch()

    async def stop(self) -> None:
        """Kill Asterisk (SIGTERM, then SIGKILL) and remove the runtime folder unless `keep`.
        Safe to call at any time, any number of times."""
        await self._terminate()
        if self.run_dir is not None and self._made_run_dir and not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            processes.forget_folder(self.run_dir)
            self.run_dir = self._given_run_dir
            self._made_run_dir = False

    # ------------------------------------------------------------------ helpers for tests
    async def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command on this instance (`asterisk -C ... -rx`); its output."""
        if not self.running:
            raise SandboxError(f"{self.profile} Asterisk is not running (CLI {command!r})")
        return await processes.run(
            [self.binary, "-C", str(self.config_file), "-rx", command],
            what=f"{self.profile} Asterisk CLI {command!r}",
            timeout=timeout,
        )

    async def originate(
        self,
        endpoint: str,
        *,
        context: str,
        extension: str = "s",
        caller_id: str | None = None,
        timeout: int = 30,
        variables: dict[str, str] | None = None,
    ) -> str:
        """Place a call from this instance through its own ARI; once answered the call runs
        `extension@context` here. Returns the new channel's id."""
        body: dict[str, object] = {
            "endpoint": endpoint,
            "context": context,
            "extension": extension,
            "priority": 1,
            "timeout": timeout,
        }
        if caller_id:
            body["callerId"] = caller_id
        if variables:
            body["variables"] = variables
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.post(f"{self.ari_url}/ari/channels", json=body) as response,
        ):
            answer = await response.json(content_type=None)
            if response.status != 200:
                raise SandboxError(f"{self.profile} originate to {endpoint} failed: {answer}")
            return str(answer["id"])

    async def hangup(self, channel_id: str) -> bool:
        """Hang up a channel of this instance (False: it was gone already)."""
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.delete(f"{self.ari_url}/ari/channels/{channel_id}") as response,
        ):
            return response.status == 204

    async def channels(self) -> list[dict]:
        """Every channel of this instance, as ARI describes it (caller, dialplan, state)."""
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.get(f"{self.ari_url}/ari/channels") as response,
        ):
            return await response.json()

    async def has_channel(self, channel_id: str) -> bool:
        """Whether a channel of this instance is still up."""
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.get(f"{self.ari_url}/ari/channels/{channel_id}") as response,
        ):
            return response.status == 200

    async def bridges(self) -> list[dict]:
        """Every bridge of this instance, as ARI describes it (type, channels). The engine's
        PBX only: the PSTN does not load res_ari_bridges."""
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.get(f"{self.ari_url}/ari/bridges") as response,
        ):
            answer = await response.json(content_type=None)
            if response.status != 200:
                raise SandboxError(f"{self.profile} Asterisk lists no bridges: {answer}")
            return answer

    async def destroy_bridge(self, bridge_id: str) -> bool:
        """Destroy a bridge made through ARI (False: gone already, or not ARI's to destroy: a
        dialplan bridge goes by itself with its last channel)."""
        async with (
            aiohttp.ClientSession(headers=self.ari_headers) as session,
            session.delete(f"{self.ari_url}/ari/bridges/{bridge_id}") as response,
        ):
            return response.status == 204

    def log_text(self) -> str:
        """Everything Asterisk said: stdout/stderr of the process, then the `messages` log."""
        parts = []
        for name in ("console.log", "messages"):
            path = self._dir() / "log" / name
            if path.exists():
                parts.append(f"----- {name}\n{path.read_text(errors='replace')}")
        return "\n".join(parts)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ------------------------------------------------------------------ internals
    def _dir(self) -> Path:
        if self.run_dir is None:
            raise SandboxError(f"{self.profile} Asterisk has no runtime folder yet (not started)")
        return self.run_dir

    def _check_install(self) -> None:
        if not (ASTERISK_CONFIG_DIR / self.profile).is_dir():
            raise SandboxError(f"no Asterisk profile {self.profile!r} in {ASTERISK_CONFIG_DIR}")
        if not (DIALPLANS_DIR / f"{self.profile}.conf").is_file():
            raise SandboxError(f"no dialplan {self.profile}.conf in {DIALPLANS_DIR}")
        if not (self.modules_dir / "chan_pjsip.so").exists():
            raise SandboxError(
                f"Asterisk's modules are not in {self.modules_dir} (chan_pjsip.so missing): "
                "install asterisk-modules, or pass modules_dir"
            )

    def _make_run_dir(self) -> None:
        self.run_dir = self._given_run_dir
        if self.run_dir is None:
            self.run_dir = Path(tempfile.mkdtemp(prefix=f"pbx-{self.profile}-"))
            self._made_run_dir = True
        elif not self.run_dir.exists():
            self.run_dir.mkdir(parents=True)
            self._made_run_dir = True
        # A folder given to us that existed already is the caller's: we never delete it.
        self.run_dir = self.run_dir.resolve()
        control = self.run_dir / "run" / "asterisk.ctl"
        if len(str(control).encode()) > _MAX_SOCKET_PATH:
            raise SandboxError(
                f"runtime folder path too long for Asterisk's control socket ({control}): "
                f"keep it under {_MAX_SOCKET_PATH - 20} characters"
            )
        if self._made_run_dir and not self.keep:
            processes.remove_at_exit(self.run_dir)
        make_runtime_folders(self.run_dir)

    def _choose_ports(self) -> None:
        if not self.sip_port:
            self.sip_port = free_port(self.sip_host, socket.SOCK_DGRAM)
        if not self.http_port:
            self.http_port = free_port(ENGINE_HOST)
        if not self.ami_port:
            self.ami_port = free_port(ENGINE_HOST)
        if not self._rtp_start:
            # Separate blocks for the two profiles keep their media apart in packet traces.
            base = 20000 if self.profile == "engine" else 40000
            self._rtp_start = free_udp_range("0.0.0.0", 2000, start=base, stop=base + 10000)

    def _forget_chosen_port(self, taken: PortInUse) -> bool:
        """Drop the port that was taken if we chose it (so the next attempt picks another);
        False when it was given to us: then retrying cannot help."""
        for name, attribute in (("sip", "sip_port"), ("http", "http_port"), ("ami", "ami_port")):
            if getattr(self, attribute) == taken.port and not self._fixed_ports[name]:
                setattr(self, attribute, 0)
                return True
        return False

    def _values(self) -> dict[str, str]:
        return {
            "RUN_DIR": str(self._dir()),
            "MODULES_DIR": str(self.modules_dir),
            "DATA_DIR": str(DATA_DIR),
            "SOUNDS_DIR": str(self.sounds_dir),
            "RECORDINGS_DIR": str(self.recordings_dir),
            "HTTP_PORT": str(self.http_port),
            "HTTP_TLS": "",
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
            # The engine's PBX a name of its own, as each node an engine drives needs one; the
            # phone network's channel ids stay plain (its recordings are named by them).
            "SYSTEM_NAME": f"node-{self.http_port}" if self.profile == "engine" else "",
            "AGENT_RTP_TIMEOUT": str(self.agent_rtp_timeout),
            "AGENTS": agent_sections(self.agents),
        }

    def _write_config(self) -> None:
        files = render_profile(self.profile, self._values(), ASTERISK_CONFIG_DIR, DIALPLANS_DIR)
        write_runtime(self._dir(), files)

    async def _launch(self) -> None:
        require_free(self.sip_host, self.sip_port, socket.SOCK_DGRAM, f"{self.profile} SIP")
        require_free(ENGINE_HOST, self.http_port, socket.SOCK_STREAM, f"{self.profile} HTTP/ARI")
        require_free(ENGINE_HOST, self.ami_port, socket.SOCK_STREAM, f"{self.profile} AMI")
        logs = self._dir() / "log"
        messages = logs / "messages"
        self._log_offset = messages.stat().st_size if messages.exists() else 0
        started = time.monotonic()
        ids = unprivileged_ids()
        with open(logs / "console.log", "ab") as console:  # noqa: ASYNC230 (local file, instant)
            if ids is not None:
                _hand_over(self._dir(), *ids)
            # Started as the user, not with `-U`/`-G`: a process that changes its own
            # credentials loses the parent-death signal that DIE_WITH_PARENT sets up.
            as_user = (
                {"user": ids[0], "group": ids[1], "extra_groups": []} if ids is not None else {}
            )
            self._process = await asyncio.create_subprocess_exec(
                self.binary,
                "-C",
                str(self.config_file),
                "-f",  # foreground: the sandbox owns the process
                "-n",  # no colours in the logs
                "-q",  # quiet console; the messages log has everything
                stdin=asyncio.subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                # Its own process group, so stopping it never signals the test runner.
                start_new_session=True,
                preexec_fn=processes.DIE_WITH_PARENT,
                **as_user,
            )
        processes.track(self._process, f"{self.profile} Asterisk")
        log.info(
            "sandbox.asterisk_starting",
            profile=self.profile,
            pid=self._process.pid,
            run_dir=str(self.run_dir),
            http_port=self.http_port,
            ami_port=self.ami_port,
            sip=f"{self.sip_host}:{self.sip_port}",
        )
        try:
            await self._wait_booted()
        except BaseException:
            await self._terminate(hard=True)
            raise
        self.boot_seconds = time.monotonic() - started
        log.info(
            "sandbox.asterisk_ready", profile=self.profile, seconds=round(self.boot_seconds, 2)
        )

    def _new_log(self) -> str:
        messages = self._dir() / "log" / "messages"
        if not messages.exists():
            return ""
        with open(messages, "rb") as file:
            file.seek(self._log_offset)
            return file.read().decode(errors="replace")

    def _bind_failure(self, text: str) -> PortInUse | None:
        for pattern in _BIND_FAILURES:
            found = pattern.search(text)
            if found is None:
                continue
            if "port" in found.groupdict():
                return PortInUse(
                    found["host"], int(found["port"]), "tcp", f"{self.profile} {found['what']}"
                )
            return PortInUse(self.sip_host, self.sip_port, "udp", f"{self.profile} SIP")
        return None

    async def _wait_booted(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.boot_timeout
        info = f"{self.ari_url}/ari/asterisk/info"
        async with aiohttp.ClientSession(headers=self.ari_headers) as session:
            while True:
                new_log = self._new_log()
                taken = self._bind_failure(new_log)
                if taken is not None:
                    raise taken
                if not self.running:
                    assert self._process is not None
                    raise SandboxError(
                        f"{self.profile} Asterisk exited (code {self._process.returncode}) while "
                        f"starting{_why(new_log)}\n{self.log_tail()}"
                    )
                try:
                    async with session.get(
                        info, timeout=aiohttp.ClientTimeout(total=2)
                    ) as response:
                        if response.status == 401:
                            raise SandboxError(
                                f"{self.profile} ARI refused the sandbox's credentials"
                            )
                        ready = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ready = False
                # ARI may answer while modules still load; FullyBooted is the real "ready".
                if ready and await self._fully_booted():
                    break
                if loop.time() > deadline:
                    raise SandboxError(
                        f"{self.profile} Asterisk did not answer ARI at {info} within "
                        f"{self.boot_timeout:.0f} s{_why(new_log)}\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.1)
        if self.strict:
            errors = [line for line in self._new_log().splitlines() if _ERROR_LINE.match(line)]
            if errors:
                listed = "\n".join(errors[:15])
                raise SandboxError(
                    f"{self.profile} Asterisk logged {len(errors)} error(s) while booting "
                    f"(configuration in {self._dir() / 'etc'}):\n{listed}"
                )

    async def _fully_booted(self) -> bool:
        try:
            output = await self.cli("core waitfullybooted", timeout=self.boot_timeout)
        except SandboxError:
            return False
        return "fully booted" in output.lower()

    async def _terminate(self, *, hard: bool = False) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        code = await processes.end(process, f"{self.profile} Asterisk", hard=hard)
        log.info("sandbox.asterisk_stopped", profile=self.profile, exit_code=code, hard=hard)


class EngineSandbox(AsteriskSandbox):
    """The engine's PBX: trunk `pstn` to the phone network at (peer_host, peer_port), agents'
    endpoints agent-NNN from `agents`, the AMD and inbound dialplan."""

    def __init__(self, **options: object) -> None:
        options.setdefault("sip_host", ENGINE_HOST)
        options.setdefault("peer_host", PSTN_HOST)
        super().__init__("engine", **options)  # type: ignore[arg-type]


CallerManner = Literal["hello", "talk", "silent", "press1", "dtmf"]
_MANNERS: dict[str, str] = {
    "hello": "s",
    "talk": "talk",
    "silent": "silent",
    "press1": "press1",
    "dtmf": "dtmf",
}


class PstnSandbox(AsteriskSandbox):
    """The phone network: answers the engine's calls by the number plan of PstnBehaviour and
    calls the engine's DIDs on demand."""

    def __init__(self, **options: object) -> None:
        options.setdefault("sip_host", PSTN_HOST)
        options.setdefault("peer_host", ENGINE_HOST)
        super().__init__("pstn", **options)  # type: ignore[arg-type]

    async def call_engine(
        self,
        did: str,
        caller_number: str,
        *,
        manner: CallerManner = "hello",
        timeout: int = 30,
        keys: str = "",
        delay: float = 2.0,
    ) -> str:
        """A debtor at `caller_number` calls the engine's `did`; once the engine answers he
        says "Hello?" and listens ("hello"), talks on ("talk"), keeps silent ("silent") or
        presses 1 every two seconds ("press1"), or presses `keys` after `delay` s ("dtmf").
        Returns the PSTN-side channel id (hang it up through this instance's ARI)."""
        return await self.originate(
            f"PJSIP/{did}@engine",
            context="debtor-speaks",
            extension=_MANNERS[manner],
            caller_id=f'"{caller_number}" <{caller_number}>',
            timeout=timeout,
            variables={"KEYS": keys, "DELAY": str(delay)} if manner == "dtmf" else None,
        )

    async def press_keys(self, tone_number: str, keys: str) -> None:
        """Have the tone phone +1 202 557 FFFF on a call press `keys` (within half a second;
        dialplans/pstn.conf, behaviour-tone)."""
        await self.cli(f"dialplan set global KEYS_{tone_number.lstrip('+')} {keys}")


class Telephony:
    """The engine's PBX and the phone network, wired to each other. The PSTN starts first, then
    the engine, whose trunk points at it; both stop on leaving, in reverse order."""

    def __init__(self, engine: EngineSandbox, pstn: PstnSandbox) -> None:
        self.engine = engine
        self.pstn = pstn

    @classmethod
    def create(
        cls,
        *,
        ari_app: str = "pbx-engine",
        agi_url: str = "agi://127.0.0.1:4573",
        agents: dict[str, str] | None = None,
        agent_rtp_timeout: int = 15,
        keep: bool = False,
    ) -> Telephony:
        # Each side's config names the other's SIP port, so both are chosen before either starts.
        engine_sip = free_port(ENGINE_HOST, socket.SOCK_DGRAM)
        pstn_sip = free_port(PSTN_HOST, socket.SOCK_DGRAM)
        pstn = PstnSandbox(sip_port=pstn_sip, peer_port=engine_sip, keep=keep)
        engine = EngineSandbox(
            sip_port=engine_sip,
            peer_port=pstn_sip,
            ari_app=ari_app,
            agi_url=agi_url,
            agents=agents,
            agent_rtp_timeout=agent_rtp_timeout,
            keep=keep,
        )
        return cls(engine=engine, pstn=pstn)

    async def start(self) -> None:
        for attempt in (1, 2):
            try:
                await self.pstn.start()
                await self.engine.start()
                return
            except PortInUse as taken:
                await self.stop()
                # The SIP ports were chosen before either instance bound them: if another
                # process took one meanwhile, choose both again, once.
                if attempt == 2 or taken.port not in (self.engine.sip_port, self.pstn.sip_port):
                    raise
                log.warning("sandbox.telephony_port_taken_retrying", error=str(taken))
                self._rechoose_sip_ports()
            except BaseException:
                await self.stop()
                raise

    async def stop(self) -> None:
        try:
            await self.engine.stop()
        finally:
            await self.pstn.stop()

    def _rechoose_sip_ports(self) -> None:
        engine_sip = free_port(ENGINE_HOST, socket.SOCK_DGRAM)
        pstn_sip = free_port(PSTN_HOST, socket.SOCK_DGRAM)
        while not port_is_free(PSTN_HOST, pstn_sip, socket.SOCK_DGRAM):
            pstn_sip = free_port(PSTN_HOST, socket.SOCK_DGRAM)
        self.engine.sip_port, self.engine.peer_port = engine_sip, pstn_sip
        self.pstn.sip_port, self.pstn.peer_port = pstn_sip, engine_sip

    async def __aenter__(self) -> Telephony:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _why(log_text: str) -> str:
    """The first ERROR lines of a boot log, for an error message."""
    errors = [line for line in log_text.splitlines() if _ERROR_LINE.match(line)]
    return (":\n" + "\n".join(errors[:10])) if errors else ""
