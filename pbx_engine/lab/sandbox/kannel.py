"""A real SMS gateway for the tests and the demo: Kannel (Debian's `kannel`), its bearerbox and
smsbox run as processes of their own on free ports, with the phone network played by Kannel's
own fake SMSC client (`fakesmsc`, from `kannel-extras`).

Two fake SMSC links: `network` takes every message the engine sends (`sent()` reads them as
the network got them) and acknowledges each, so Kannel reports delivery; `replies` carries
what a debtor sends back (`reply()`), which Kannel's sms-service passes to the engine's
`/sms/inbound`. Kannel's fake link is line-based: a text's line breaks reach the network as
extra lines, which `sent()` joins back to the message they belong to; a long message reaches
it in parts with their concatenation header, which `sent()` puts back together (a part's
alphabet is not said on that link: bytes holding a NUL are UCS-2, as GSM-7 text never does).

`async with KannelSandbox(inbound_url, token) as kannel:` ... `kannel.sms_config(...)`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import distinct_free_ports

log = structlog.get_logger(__name__)

HOST = "127.0.0.1"
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
USERNAME = "engine"
_PORT_NAMES = ("admin", "smsbox", "network", "replies", "sendsms")
_START_ATTEMPTS = 3

# A message as fakesmsc logs it: "Got message 3: <sender receiver type data>".
_GOT = re.compile(r"Got message \d+: <(.*)>$")
_HEAD = re.compile(r"^(\S+) (\S+) (text|data|ucs-2|udh) (.*)$", re.DOTALL)


@dataclass(frozen=True)
class NetworkSms:
    """A message as the network got it."""

    sender: str
    to: str
    coding: str  # text (the default alphabet) or ucs-2
    text: str
    parts: int = 1


class KannelSandbox:
    def __init__(self, inbound_url: str, inbound_token: str, *, boot_timeout: float = 20.0):
        """`inbound_url`: where the engine takes replies (…/sms/inbound); `inbound_token`: the
        token the engine expects on it."""
        self.inbound_url = inbound_url
        self.inbound_token = inbound_token
        self.password = "sandbox-" + secrets.token_hex(8)
        self._admin_password = "admin-" + secrets.token_hex(8)
        self._boot_timeout = boot_timeout
        self.dir: Path | None = None
        self._ports: dict[str, int] = {}
        self._boxes: list[tuple[str, asyncio.subprocess.Process]] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://{HOST}:{self._ports['sendsms']}/cgi-bin/sendsms"

    async def __aenter__(self) -> KannelSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        bearerbox = processes.require_binary("bearerbox", package="kannel")
        smsbox = processes.require_binary("smsbox", package="kannel")
        if not FAKESMSC.exists():  # noqa: ASYNC240 (one stat, at start)
            raise SandboxError(f"{FAKESMSC} not found: install kannel-extras (scripts/setup.sh)")
        # Five ports chosen free, then bound by Kannel a moment later: another process (an
        # outgoing connection's ephemeral port) can take one in between, and bearerbox then
        # panics at once. Such a start is tried again on fresh ports.
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.dir = Path(tempfile.mkdtemp(prefix="pbx-kannel-"))
            processes.remove_at_exit(self.dir)
            self._ports = dict(zip(_PORT_NAMES, distinct_free_ports(len(_PORT_NAMES)), strict=True))
            try:
                await self._start_boxes(bearerbox, smsbox)
            except SandboxError as error:
                await self.stop()
                if "exited at once" not in str(error) or attempt == _START_ATTEMPTS:
                    raise
                log.warning("sandbox.kannel_retry", attempt=attempt, error=str(error)[:300])
            except BaseException:
                await self.stop()
                raise
            else:
                break
        log.info("sandbox.kannel_ready", sendsms=self.sendsms_url)

    async def _start_boxes(self, bearerbox: str, smsbox: str) -> None:
        assert self.dir is not None
        conf = self.dir / "kannel.conf"
        conf.write_text(self._config(), encoding="utf-8")
        await self._launch("bearerbox", [bearerbox, str(conf)], self._ports["admin"])
        await self._launch("smsbox", [smsbox, str(conf)], self._ports["sendsms"])
        network = [str(FAKESMSC), "-H", HOST, "-r", str(self._ports["network"]), "-m", "0"]
        await self._launch("network", [*network, "0 0 text -"], None)
        await self._wait_online("network")

    def _config(self) -> str:
        assert self.dir is not None
        ports = self._ports
        # smsbox retries a call to the engine that failed (it was restarting, its database
        # away): a reply or a delivery report is never dropped on the first refusal.
        get_url = (
            f"{self.inbound_url}?token={urllib.parse.quote(self.inbound_token, safe='')}"
            "&from=%p&to=%P&text=%a"
        )
        return f"""\
group = core
admin-port = {ports["admin"]}
admin-password = {self._admin_password}
admin-interface = {HOST}
smsbox-port = {ports["smsbox"]}
smsbox-interface = {HOST}
log-file = "{self.dir / "bearerbox.log"}"
log-level = 1
access-log = "{self.dir / "access.log"}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = network
port = {ports["network"]}
connect-allow-ip = {HOST}

group = smsc
smsc = fake
smsc-id = replies
allowed-smsc-id = replies
port = {ports["replies"]}
connect-allow-ip = {HOST}

group = smsbox
bearerbox-host = {HOST}
bearerbox-port = {ports["smsbox"]}
sendsms-port = {ports["sendsms"]}
sendsms-interface = {HOST}
mo-recode = true
http-request-retry = 5
http-queue-delay = 1
log-file = "{self.dir / "smsbox.log"}"
log-level = 1

group = sendsms-user
username = {USERNAME}
password = {self.password}
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
get-url = "{get_url}"
max-messages = 0
"""

    async def _launch(self, name: str, args: list[str], port: int | None) -> None:
        assert self.dir is not None
        process = await processes.launch(args, what=f"kannel {name}", log_file=self._log(name))
        self._boxes.append((name, process))
        if port is not None:
            await processes.wait_listening(
                process, HOST, port, what=f"kannel {name}", timeout=self._boot_timeout,
                log_file=self._log(name),
            )  # fmt: skip

    def _log(self, name: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{name}.out"

    async def status(self) -> str:
        """bearerbox's status page (its SMSC links, queues)."""
        return await bearerbox_status(self._ports["admin"], self._admin_password)

    async def _wait_online(self, link: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._boot_timeout
        while True:
            status = await self.status()
            if re.search(rf"^\s*{link}\[{link}\].*\(online", status, re.MULTILINE):
                return
            if loop.time() > deadline:
                raise SandboxError(f"kannel's {link} link not online: {status[-600:]}")
            await asyncio.sleep(0.1)

    def sent(self) -> list[NetworkSms]:
        """Every message the network got so far, oldest first."""
        found: list[NetworkSms] = []
        log_file = self._log("network")
        if not log_file.exists():
            return found
        pieces: list[str] = []
        for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines():
            got = _GOT.search(line)
            if got is not None:
                pieces.append(got[1])
        # (sender, to, reference) -> the parts of a long message so far, by number
        partial: dict[tuple[str, str, int], dict[int, bytes]] = {}
        for piece in pieces:
            head = _HEAD.match(piece)
            if head is None:
                if found:  # a line break in the previous message's text
                    last = found[-1]
                    found[-1] = NetworkSms(
                        last.sender, last.to, last.coding, f"{last.text}\n{piece}"
                    )
                continue
            sender, to, kind, rest = head.groups()
            if kind != "udh":
                found.append(_network_sms(sender, to, kind, rest))
                continue
            udh, _, data = rest.partition(" ")
            header = _form_bytes(udh)
            data = data.partition(" ")[2]  # "data <bytes>"
            if len(header) < 6 or header[1] != 0x00:
                continue  # not a concatenation header: not something the engine sends
            reference, total, number = header[3], header[4], header[5]
            parts = partial.setdefault((sender, to, reference), {})
            parts[number] = _form_bytes(data)
            if len(parts) == total:
                whole = b"".join(parts[n] for n in sorted(parts))
                del partial[(sender, to, reference)]
                if b"\x00" in whole:
                    text = whole.decode("utf-16-be", errors="replace")
                    found.append(NetworkSms(sender, to, "ucs-2", text, total))
                else:
                    found.append(
                        NetworkSms(sender, to, "text", whole.decode(errors="replace"), total)
                    )
        return found

    async def reply(self, sender: str, to: str, text: str, *, timeout: float = 10.0) -> None:
        """A debtor's SMS from `sender` to `to` into the network: Kannel passes it on to the
        engine. Returns once the network handed it to Kannel."""
        assert self.dir is not None
        args = [str(FAKESMSC), "-H", HOST, "-r", str(self._ports["replies"]), "-m", "1"]
        data = urllib.parse.quote(text.encode("utf-16-be"))
        log_file = self.dir / f"reply-{len(list(self.dir.glob('reply-*')))}.out"
        process = await processes.launch(
            [*args, f"{sender} {to} ucs2 {data}"], what="kannel fakesmsc reply", log_file=log_file
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while "sent message 1" not in log_file.read_text(errors="replace"):
                if process.returncode is not None or loop.time() > deadline:
                    raise SandboxError(f"the reply did not reach Kannel: {log_file.read_text()}")
                await asyncio.sleep(0.05)
        finally:
            # fakesmsc waits for more once it has sent its one: it is done with.
            await processes.end(process, "kannel fakesmsc reply", grace=1)

    def _tail(self, name: str) -> str:
        log_file = self._log(name)
        return log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""

    async def stop(self) -> None:
        boxes, self._boxes = self._boxes, []
        for name, process in reversed(boxes):  # the network, smsbox, then bearerbox
            await processes.end(process, f"kannel {name}", grace=3)
        if boxes:
            log.info("sandbox.kannel_stopped", sent=len(self.sent()) if self.dir else 0)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None


def _form_bytes(data: str) -> bytes:
    """fakesmsc writes bytes form-encoded: "+" is a space."""
    return urllib.parse.unquote_to_bytes(data.replace("+", " "))


def _network_sms(sender: str, to: str, coding: str, data: str) -> NetworkSms:
    if coding == "ucs-2":
        return NetworkSms(sender, to, coding, _form_bytes(data).decode("utf-16-be", "replace"))
    return NetworkSms(sender, to, coding, data)


async def bearerbox_status(admin_port: int, password: str) -> str:
    """The status page of the bearerbox whose admin port is `admin_port` (its SMSC links, the
    boxes connected to it, queues), as text."""
    reader, writer = await asyncio.open_connection(HOST, admin_port)
    try:
        query = urllib.parse.urlencode({"password": password})
        writer.write(f"GET /status.txt?{query} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        return (await asyncio.wait_for(reader.read(), 5)).decode(errors="replace")
    finally:
        writer.close()
