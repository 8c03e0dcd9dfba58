"""Agents' softphones played by SIPp: a phone registers to the engine's PBX as `agent-NNN` with
digest authentication and answers every call it gets, sending speech as real RTP audio.

Two SIPp processes make one phone, because one SIPp scenario follows one kind of dialog: a UAC
sends the REGISTER (and answers the 401 challenge) from the phone's port and exits; then a UAS
takes that port and answers the INVITEs Asterisk sends to the registered contact. (The agents'
endpoints use rewrite_contact, so the contact is the address the REGISTER came from.) With
`register=False` the phone only answers, for an endpoint with a static contact or a plain test.

SIPp traps (testbed.md): `rtp_stream` sends the file's bytes as they are, with the payload type
given (`,0` = PCMU); without it SIPp sends PCMA, which an ulaw-only endpoint drops silently and
AMD then hears nothing. SIPp 3.6 rejects `optional="true"` on the ACK before a `<nop>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.audio import SOUNDS, Encoding, Speech, render
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port, free_udp_range

log = structlog.get_logger(__name__)

_MEDIA_TRIES = 3  # blocks of media ports an answering phone tries before it gives up

_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]reg[call_number]
To: <sip:{user}@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:{user}@{contact_host}:{contact_port}>
Max-Forwards: 70
Expires: {expires}
User-Agent: pbx-engine-sandbox-phone
Content-Length: 0

]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]reg[call_number]
To: <sip:{user}@[remote_ip]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:{user}@{contact_host}:{contact_port}>
[authentication username={user} password={password}]
Max-Forwards: 70
Expires: {expires}
User-Agent: pbx-engine-sandbox-phone
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""

# One call: ring, answer with PCMU only, stream the voice in a loop until the BYE. The <log>
# after the ACK counts answered calls (in the -log_file), as the call is then really up. The
# responses carry the request's Record-Route (a proxy's, Kamailio's), as a phone's must: the
# ACK and BYE then come back through the proxy.
_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <pause milliseconds="{ring_ms}"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=[pid]ans[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK" crlf="true"/>
  <nop>
    <action>
      <log message="answered [call_id]"/>
      <exec rtp_stream="{audio},-1,0"/>
    </action>
  </nop>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


# One call the phone places (a feature code, a number): INVITE, answer the 401 challenge,
# stream the voice once answered, then either hang up after {hold_ms} ms or wait for the BYE.
_DIAL_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="dial">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]dial[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: pbx-engine-sandbox-phone
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="401" auth="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:{user}@[remote_ip]>;tag=[pid]dial[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]dial[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 INVITE
Contact: <sip:{user}@[local_ip]:[local_port]>
[authentication username={user} password={password}]
Max-Forwards: 70
User-Agent: pbx-engine-sandbox-phone
Content-Type: application/sdp
Content-Length: [len]

v=0
o=phone 53655765 2353687638 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]dial[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 2 ACK
Contact: <sip:{user}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <nop>
    <action>
      <exec rtp_stream="{audio},-1,0"/>
    </action>
  </nop>
"""

_DIAL_HANG_UP = """  <pause milliseconds="{hold_ms}"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:{user}@[remote_ip]>;tag=[pid]dial[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 3 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""

_DIAL_WAIT_FOR_BYE = """  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
"""


class SippPhone:
    """`async with SippPhone("agent-001", "secret", pbx.sip_host, pbx.sip_port) as phone:`
    registers and answers calls until left; leaving stops SIPp (Asterisk keeps the contact
    until it expires, and a call to it then fails at once with no answer)."""

    def __init__(
        self,
        user: str,
        password: str,
        pbx_host: str,
        pbx_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ring_ms: int = 500,
        text: str | None = None,
        voice: str = "en",
        expires: int = 3600,
        register: bool = True,
        binary: str = "sipp",
        register_timeout: float = 10.0,
    ) -> None:
        self.user = user
        self.password = password
        self.pbx_host = pbx_host
        self.pbx_port = pbx_port
        self.host = host
        self.port = port
        self.ring_ms = ring_ms
        self.speech = Speech(text or SOUNDS["human-talk"].text, voice=voice)
        self.expires = expires
        self.register = register
        self.binary = binary
        self.register_timeout = register_timeout
        self.dir: Path | None = None
        self._uas: asyncio.subprocess.Process | None = None
        self._vanished = False

    @property
    def contact(self) -> str:
        """Where the phone answers: what a static aor contact would name."""
        return f"sip:{self.user}@{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._uas is not None and self._uas.returncode is None

    @property
    def answered(self) -> int:
        """Calls this phone has answered (ACK received) so far."""
        if self.dir is None:
            return 0
        path = self.dir / "calls.log"
        if not path.exists():
            return 0
        return sum(line.startswith("answered ") for line in path.read_text().splitlines())

    async def __aenter__(self) -> SippPhone:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self.running:
            raise SandboxError(f"phone {self.user} is already running")
        self.binary = processes.require_binary(self.binary, package="sip-tester (SIPp)")
        self.dir = Path(tempfile.mkdtemp(prefix=f"pbx-phone-{self.user}-"))
        processes.remove_at_exit(self.dir)
        if not self.port:
            self.port = free_port(self.host, socket.SOCK_DGRAM)
        try:
            audio = self.dir / "voice-ulaw.wav"
            shutil.copyfile(await render(self.speech, Encoding.ULAW), audio)
            if self.register:
                await self._register()
            await self._answer(audio)
        except BaseException:
            await self.stop()
            raise

    async def vanish(self) -> None:
        """The phone goes without a word, as a pulled cable or a crashed softphone does: no
        BYE for its calls, no audio, and its registration left to expire on the PBX (stop()
        still signs it off, so the next test finds the endpoint unregistered)."""
        process, self._uas = self._uas, None
        if process is not None:
            await processes.end(process, f"SIPp phone {self.user}", hard=True)
            self._vanished = True
            log.info("sandbox.phone_vanished", user=self.user)

    async def stop(self) -> None:
        process, self._uas = self._uas, None
        if process is None and self._vanished:
            self._vanished = False
            with contextlib.suppress(SandboxError):
                await self._register(expires=0)
        if process is not None:
            # SIPp ends its calls on SIGTERM only after timeouts: a phone being put away just
            # goes, as a pulled cable would.
            await processes.end(process, f"SIPp phone {self.user}", hard=True)
            log.info("sandbox.phone_stopped", user=self.user, answered=self.answered)
            if self.register:
                # Then it signs off, as a phone switched off does: the PBX forgets its contact,
                # so the next test finds the endpoint as unregistered as it was.
                try:
                    await self._register(expires=0)
                except SandboxError as error:
                    log.warning("sandbox.phone_unregister_failed", user=self.user, error=str(error))
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            processes.forget_folder(self.dir)
            self.dir = None

    async def dial(
        self, number: str, *, hold_seconds: float | None = None
    ) -> asyncio.subprocess.Process:
        """Place a call from this phone (a feature code such as *60, or a number), speaking
        once answered; it hangs up after `hold_seconds`, or waits for the PBX to hang up. The
        returned SIPp process exits when the call is over: 0 if it went as planned."""
        if self.dir is None:
            raise SandboxError(f"phone {self.user} is not started")
        audio = self.dir / "voice-ulaw.wav"
        tail = (
            _DIAL_WAIT_FOR_BYE
            if hold_seconds is None
            else _DIAL_HANG_UP.format(hold_ms=int(hold_seconds * 1000), user=self.user)
        )
        scenario = self.dir / f"dial-{secrets.token_hex(4)}.xml"
        scenario.write_text(
            _DIAL_HEAD.format(user=self.user, password=self.password, audio=audio) + tail
        )
        port = free_port(self.host, socket.SOCK_DGRAM)
        media = free_udp_range(self.host, 200, start=30000, stop=40000)
        output = open(scenario.with_suffix(".log"), "wb")  # noqa: ASYNC230, SIM115 (local file)
        try:
            process = await asyncio.create_subprocess_exec(
                self.binary,
                f"{self.pbx_host}:{self.pbx_port}",
                "-sf",
                str(scenario),
                "-s",
                number,
                "-i",
                self.host,
                "-p",
                str(port),
                "-mi",
                self.host,
                "-mp",
                str(media),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "300s",
                "-timeout_error",
                "-trace_err",
                "-error_file",
                str(scenario.with_suffix(".errors")),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=output,
                start_new_session=True,
                preexec_fn=processes.DIE_WITH_PARENT,
            )
        finally:
            output.close()
        processes.track(process, f"SIPp call from {self.user} to {number}")
        log.info("sandbox.phone_dialling", user=self.user, number=number)
        return process

    async def _register(self, expires: int | None = None) -> None:
        assert self.dir is not None
        scenario = self.dir / "register.xml"
        scenario.write_text(
            _REGISTER.format(
                user=self.user,
                password=self.password,
                contact_host=self.host,
                contact_port=self.port,
                expires=self.expires if expires is None else expires,
            )
        )
        try:
            await processes.run(
                [
                    self.binary,
                    f"{self.pbx_host}:{self.pbx_port}",
                    "-sf",
                    str(scenario),
                    "-i",
                    self.host,
                    "-p",
                    str(self.port),
                    "-m",
                    "1",
                    "-nostdin",
                    "-timeout",
                    f"{int(self.register_timeout)}s",
                    "-timeout_error",
                ],
                what=f"SIPp REGISTER of {self.user}",
                timeout=self.register_timeout + 5,
                cwd=self.dir,
            )
        except SandboxError as error:
            raise SandboxError(
                f"{self.user} could not register with {self.pbx_host}:{self.pbx_port}: {error}"
            ) from None
        if expires == 0:
            log.info("sandbox.phone_unregistered", user=self.user)
        else:
            log.info("sandbox.phone_registered", user=self.user, contact=self.contact)

    async def _answer(self, audio: Path) -> None:
        assert self.dir is not None
        scenario = self.dir / "answer.xml"
        scenario.write_text(_ANSWER.format(ring_ms=self.ring_ms, audio=audio))
        # A media port can be taken between the look and SIPp's bind (a socket's ephemeral port
        # the kernel gave away): SIPp then exits at once, and another block is tried.
        for attempt in range(1, _MEDIA_TRIES + 1):
            media = free_udp_range(self.host, 200, start=30000, stop=40000)
            exit_code = await self._answer_on(scenario, media)
            if exit_code is None:
                return
            said = (self.dir / "uas.log").read_text(errors="replace")
            if "Address already in use" not in said or attempt == _MEDIA_TRIES:
                raise SandboxError(
                    f"SIPp for {self.user} exited at once (code {exit_code}): {said[-500:]}"
                )
            log.warning("sandbox.phone_media_port_taken", user=self.user, media_port=media)

    async def _answer_on(self, scenario: Path, media: int) -> int | None:
        """Start the answering SIPp with its media ports from `media`; its exit code if it
        exited at once (its words in uas.log), None when it is answering."""
        assert self.dir is not None
        with open(self.dir / "uas.log", "wb") as output:  # noqa: ASYNC230 (local file, instant)
            self._uas = await asyncio.create_subprocess_exec(
                self.binary,
                "-sf",
                str(scenario),
                "-i",
                self.host,
                "-p",
                str(self.port),
                "-mi",
                self.host,
                "-mp",
                str(media),
                "-nostdin",
                "-aa",  # answer OPTIONS/INFO/NOTIFY/UPDATE with 200 outside the scenario
                "-trace_logs",
                "-log_file",
                str(self.dir / "calls.log"),
                "-trace_err",
                "-error_file",
                str(self.dir / "errors.log"),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=output,
                start_new_session=True,
                preexec_fn=processes.DIE_WITH_PARENT,
            )
        processes.track(self._uas, f"SIPp phone {self.user}")
        # SIPp exits at once on a bad scenario or a taken port; give it a moment to say so.
        try:
            await asyncio.wait_for(self._uas.wait(), 0.3)
        except TimeoutError:
            log.info("sandbox.phone_answering", user=self.user, port=self.port)
            return None
        process, self._uas = self._uas, None
        processes.untrack(process)
        return process.returncode
