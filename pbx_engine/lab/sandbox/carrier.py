"""A carrier's trunk played by SIPp: a batch of calls to one number, as a phone network sends
them to a centre's SIP proxy. Each call is answered, held a moment and hung up by the carrier;
its ACK and BYE follow the route the proxy recorded (`rrs`), so calls work through Kamailio.

`await place_calls(host, port, number, calls=10)` returns how many were answered and how many
failed, from SIPp's own statistics.
"""

from __future__ import annotations

import asyncio
import csv
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port

HOST = "127.0.0.3"  # a carrier of its own address, neither the PBX's nor the proxy's

_CALL = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier call">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+12025559000@[local_ip]:[local_port]>;tag=[pid]carrier[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:carrier@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=carrier 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+12025559000@[local_ip]:[local_port]>;tag=[pid]carrier[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
[routes]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="{hold_ms}"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:+12025559000@[local_ip]:[local_port]>;tag=[pid]carrier[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
[routes]
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
"""


@dataclass(frozen=True)
class Batch:
    answered: int
    failed: int


async def place_calls(
    host: str,
    port: int,
    number: str,
    *,
    calls: int,
    folder: Path,
    rate: float = 5.0,
    hold_ms: int = 500,
    timeout: float = 60.0,
) -> Batch:
    """`calls` calls to `number` through the SIP server at host:port, `rate` a second."""
    binary = processes.require_binary("sipp", package="sip-tester")
    scenario, stats = _prepare(folder, hold_ms)
    args = [
        binary,
        f"{host}:{port}",
        *("-sf", str(scenario), "-s", number),
        *("-i", HOST, "-p", str(free_port(HOST, socket.SOCK_DGRAM))),
        *("-m", str(calls), "-r", str(rate), "-l", str(calls)),
        *("-nostdin", "-timeout", f"{timeout:.0f}s", "-timeout_error"),
        *("-trace_stat", "-stf", str(stats), "-fd", "1"),
        *("-trace_err", "-error_file", str(folder / "carrier-errors.log")),
    ]
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout + 10)
    except TimeoutError:
        await processes.end(process, "sipp carrier", hard=True)
        raise SandboxError(
            f"the carrier's {calls} calls did not finish in {timeout:.0f} s"
        ) from None
    return _read_stats(stats, process.returncode, stderr)


def _prepare(folder: Path, hold_ms: int) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    scenario = folder / "carrier.xml"
    scenario.write_text(_CALL.format(hold_ms=hold_ms))
    stats = folder / "carrier-stats.csv"
    stats.unlink(missing_ok=True)
    return scenario, stats


def _read_stats(stats: Path, code: int | None, stderr: bytes) -> Batch:
    if not stats.exists():
        raise SandboxError(f"sipp left no statistics (exit {code}): {stderr[-800:]!r}")
    with stats.open() as file:
        rows = list(csv.DictReader(file, delimiter=";"))
    if not rows:
        raise SandboxError("sipp's statistics are empty")
    last = rows[-1]
    return Batch(int(last["SuccessfulCall(C)"]), int(last["FailedCall(C)"]))
