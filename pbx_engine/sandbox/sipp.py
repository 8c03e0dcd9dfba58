"""Agents' softphones played by SIPp: a phone registers to the engine's PBX as `agent-NNN` with
digest authentication and answers every call it gets, sending speech as real RTP audio.

Two SIPp processes make one phone, because one SIPp scenario follows one SIP dialog: a UAC sends
the REGISTER (and answers the 401 challenge) from the phone's port and exits; then a UAS takes
that port and answers the INVITEs Asterisk sends to the registered contact. (The agents'
endpoints use rewrite_contact, so the contact is the address the REGISTER came from.)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import structlog

from pbx_engine.sandbox.audio import SOUNDS, speech
from pbx_engine.sandbox.errors import SandboxError
from pbx_engine.sandbox.ports import free_port, free_udp_range

log = structlog.get_logger(__name__)

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

_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answer">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
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


class SippPhone:
    """`async with SippPhone("agent-001", "secret", pbx_host, pbx_port) as phone:` registers
    and answers calls until left; leaving stops SIPp (Asterisk keeps the contact until expiry)."""

    def __init__(
        self,
        user: str,
        password: str,
        pbx_host: str,
        pbx_port: int,
        *,
        host: str = "127.0.0.1",
        ring_ms: int = 500,
        text: str | None = None,
        expires: int = 3600,
        binary: str = "sipp",
    ) -> None:
        self.user = user
        self.password = password
        self.pbx_host = pbx_host
        self.pbx_port = pbx_port
        self.host = host
        self.ring_ms = ring_ms
        self.text = text or SOUNDS["human-talk"][2]
        self.expires = expires
        self.binary = binary
        self.port = 0
        self.dir: Path | None = None
        self._uas: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> SippPhone:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def start(self) -> None:
        binary = shutil.which(self.binary)
        if binary is None:
            raise SandboxError(
                f"SIPp ({self.binary!r}) not found: install sip-tester (scripts/setup.sh)"
            )
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix=f"pbx-phone-{self.user}-"))
        self.port = free_port(self.host, socket.SOCK_DGRAM)
        try:
            await self._register()
            await self._start_answering()
        except BaseException:
            await self.stop()
            raise

    async def _start_answering(self) -> None:
        assert self.dir is not None
        wav = speech(self.dir, "voice", self.text)
        # SIPp sends the file's samples as they are: payload type 0 needs u-law samples.
        ulaw = self.dir / "voice-ulaw.wav"
        sox = await asyncio.create_subprocess_exec(
            "sox",
            str(wav),
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            "u-law",
            str(ulaw),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, error = await sox.communicate()
        if sox.returncode != 0:
            raise SandboxError(f"sox could not convert the phone's audio: {error.decode()[-300:]}")
        scenario = self.dir / "answer.xml"
        scenario.write_text(_ANSWER.format(ring_ms=self.ring_ms, audio=ulaw))
        media = free_udp_range(self.host, 200, start=30000, stop=40000)
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
            "-aa",
            "-trace_err",
            "-error_file",
            str(self.dir / "errors.log"),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "uas.log", "wb"),  # noqa: ASYNC230, SIM115 (local, instant)
            start_new_session=True,
        )
        await asyncio.sleep(0.2)
        if self._uas.returncode is not None:
            raise SandboxError(
                f"SIPp for {self.user} exited at once: "
                f"{(self.dir / 'uas.log').read_text(errors='replace')[-500:]}"
            )
        log.info("sandbox.phone_answering", user=self.user, port=self.port)

    async def _register(self, timeout: float = 10.0) -> None:
        assert self.dir is not None
        scenario = self.dir / "register.xml"
        scenario.write_text(
            _REGISTER.format(
                user=self.user,
                password=self.password,
                contact_host=self.host,
                contact_port=self.port,
                expires=self.expires,
            )
        )
        process = await asyncio.create_subprocess_exec(
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
            f"{int(timeout)}s",
            "-timeout_error",
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            tail = output.decode(errors="replace")[-800:]
            raise SandboxError(
                f"{self.user} could not register with {self.pbx_host}:"
                f"{self.pbx_port} (SIPp exit {process.returncode}): {tail}"
            )
        log.info("sandbox.phone_registered", user=self.user)

    async def stop(self) -> None:
        process, self._uas = self._uas, None
        if process is not None and process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await process.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
