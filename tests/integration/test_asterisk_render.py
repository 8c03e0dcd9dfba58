"""A plain Asterisk, started as an operator would from `pbx-engine asterisk render`'s output
(not through the sandbox helper): it boots without an error, ARI answers with the engine's
credentials, the engine's Stasis app registers and records a call, and the dialplan has the
engine's contexts."""

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import AriUnavailable, basic_auth
from pbx_engine.ari.events import StasisStart
from pbx_engine.config import load_config
from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.ports import free_port, free_udp_range
from tests.integration.waiting import eventually

ENGINE_CONTEXTS = ("engine-amd", "engine-amd-tuned", "from-pstn", "inbound", "from-agents")


def engine_toml(run_dir: Path) -> str:
    http, ami, agi = free_port(), free_port(), free_port()
    sip = free_port("127.0.0.1", socket.SOCK_DGRAM)
    rtp = free_udp_range("0.0.0.0", 200, start=50000, stop=58000)
    return f"""
[ari]
url = "http://127.0.0.1:{http}"
username = "engine-render"
password = "Render-test-ari-pass"
app = "pbx-engine-render"
[ami]
port = {ami}
username = "engine-render"
secret = "Render-test-ami-secret"
[agi]
port = {agi}
[asterisk]
run_dir = "{run_dir}"
sip_host = "127.0.0.1"
sip_port = {sip}
trunk_host = "127.0.0.2"
trunk_port = 5060
rtp_start = {rtp}
rtp_end = {rtp + 199}
"""


@pytest.fixture
async def rendered_asterisk(tmp_path):
    """Render with the command, then start `asterisk -C DIR/etc/asterisk.conf` as the
    `asterisk` user (as root) or as ourselves; yields (config path, run dir)."""
    run_dir = Path(tempfile.mkdtemp(prefix="pbx-render-"))
    config = tmp_path / "engine.toml"
    config.write_text(engine_toml(run_dir))
    async with started_from_render(config, run_dir):
        yield config, run_dir


@asynccontextmanager
async def started_from_render(config: Path, run_dir: Path, *render_args: str):
    command = [
        sys.executable, "-m", "pbx_engine.cli", "asterisk", "render", "--config", config,
        *render_args,
    ]  # fmt: skip
    as_user: dict = {}
    if os.geteuid() == 0:
        command += ["--owner", "asterisk"]
        entry = pwd.getpwnam("asterisk")
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    rendered = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    asterisk = await asyncio.create_subprocess_exec(
        "asterisk",
        "-C",
        str(run_dir / "etc" / "asterisk.conf"),
        "-f",
        "-n",
        "-q",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=processes.DIE_WITH_PARENT,
        **as_user,
    )
    try:
        yield
    finally:
        await processes.end(asterisk, "rendered Asterisk")
        shutil.rmtree(run_dir, ignore_errors=True)


async def cli(run_dir: Path, command: str) -> str:
    return await processes.run(
        ["asterisk", "-C", str(run_dir / "etc" / "asterisk.conf"), "-rx", command],
        what=f"Asterisk CLI {command!r}",
        timeout=30,
    )


async def record_a_call(ari: AriClient, run_dir: Path) -> None:
    """A call answered in Stasis and recorded over ARI: the write lands in spool/recording (a
    folder Asterisk does not make; without it the record request is a 500)."""
    channel_id = f"render-{uuid.uuid4()}"
    with ari.subscribe(channel_id) as events:
        await ari.originate("Local/s@echo-test", app=ari.app, channel_id=channel_id)
        await events.wait_for(StasisStart, timeout=10)
        await ari.answer(channel_id)
        await ari.record(channel_id, name="first-call", format="wav")
        recorded = run_dir / "spool" / "recording" / "first-call.wav"

        async def written() -> bool:
            return recorded.exists()

        await eventually(written, timeout=10, what="the recording's file")
        await ari.stop_recording("first-call")
        await ari.hangup(channel_id)


async def test_given_a_rendered_folder_when_asterisk_starts_then_the_engine_can_use_it(
    rendered_asterisk,
):
    config_path, run_dir = rendered_asterisk
    config = load_config(config_path)
    headers = {"Authorization": basic_auth("engine-render", "Render-test-ari-pass")}
    info = f"http://127.0.0.1:{config.ari.url.port}/ari/asterisk/info"

    async def ari_answers() -> bool:
        try:
            async with (
                aiohttp.ClientSession(headers=headers) as session,
                session.get(info, timeout=aiohttp.ClientTimeout(total=2)) as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    await eventually(ari_answers, timeout=30, what="ARI of the rendered Asterisk")
    assert "fully booted" in (await cli(run_dir, "core waitfullybooted")).lower()

    async with AriClient(config.ari) as ari:
        await ari.wait_connected(10)
        assert (await ari.get_application())["name"] == "pbx-engine-render"
        await record_a_call(ari, run_dir)

    dialplan = await cli(run_dir, "dialplan show")
    for context in ENGINE_CONTEXTS:
        assert f"'{context}'" in dialplan, context
    assert "agi://127.0.0.1:" in await cli(run_dir, "dialplan show globals")

    log = (run_dir / "log" / "messages").read_text(errors="replace")
    errors = [line for line in log.splitlines() if "] ERROR[" in line]
    assert not errors, "\n".join(errors[:10])
    recording = run_dir / "spool" / "recording"
    assert recording.is_dir()
    if os.geteuid() == 0:
        assert recording.stat().st_uid == pwd.getpwnam("asterisk").pw_uid


def _node_certificate(address: str) -> Path:
    """A CA, and a certificate for `address` it signed (key in the same file), in a folder the
    `asterisk` user can read (not under pytest's, which is root's alone); returns the folder
    (ca.pem, node.pem)."""
    folder = Path(tempfile.mkdtemp(prefix="pbx-tls-"))
    folder.chmod(0o755)
    ca_key, ca, key, request = (folder / n for n in ("ca.key", "ca.pem", "n.key", "n.csr"))
    node, extensions = folder / "node.crt", folder / "san.cnf"
    extensions.write_text(f"subjectAltName = IP:{address}\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=pbx-engine test CA", "-keyout", ca_key, "-out", ca],
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-subj", "/CN=m2", "-keyout", key, "-out", request],
        ["openssl", "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-days", "1", "-extfile", extensions, "-out", node],
    ):  # fmt: skip
        subprocess.run(command, check=True, capture_output=True)
    both = folder / "node.pem"
    both.write_bytes(node.read_bytes() + key.read_bytes())
    both.chmod(0o644)
    return folder


async def test_a_node_rendered_for_another_host_serves_ari_over_tls_to_the_engine(tmp_path):
    """`asterisk render --node m2` for a media node whose url is https on its own address
    (127.0.0.2 stands for the private network's): Asterisk serves ARI over TLS there with the
    operator's certificate, the engine's client (trusting `[ari] ca_file`) opens the events
    websocket over wss and drives a call through it, and the plain listener stays on loopback
    for tools on the node."""
    run_dir = Path(tempfile.mkdtemp(prefix="pbx-render-"))
    tls = _node_certificate("127.0.0.2")
    port = free_port("0.0.0.0")  # free on both addresses: plain on 127.0.0.1, TLS on .2
    config_path = tmp_path / "engine.toml"
    config_path.write_text(
        engine_toml(run_dir)
        + f'tls_certificate = "{tls / "node.pem"}"\n'
        + f'[[ari.nodes]]\nname = "m2"\nurl = "https://127.0.0.2:{port}"\n'
    )
    try:
        async with started_from_render(config_path, run_dir, "--node", "m2"):
            config = load_config(config_path)
            node = config.ari.model_copy(
                update={
                    "url": config.ari.nodes[0].url,
                    "node": "m2",
                    "nodes": (),
                    "ca_file": tls / "ca.pem",
                }
            )

            async def plain_on_loopback() -> bool:
                headers = {"Authorization": basic_auth("engine-render", "Render-test-ari-pass")}
                try:
                    async with (
                        aiohttp.ClientSession(headers=headers) as session,
                        session.get(f"http://127.0.0.1:{port}/ari/asterisk/info") as response,
                    ):
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(plain_on_loopback, timeout=30, what="the rendered node's ARI")
            assert "System name:                 m2" in await cli(run_dir, "core show settings")
            async with AriClient(node) as ari:
                await ari.wait_connected(10)
                assert (await ari.get_application())["name"] == "pbx-engine-render"
                await record_a_call(ari, run_dir)
            untrusted = node.model_copy(update={"ca_file": None})
            async with AriClient(untrusted, events=False) as ari:
                with pytest.raises(AriUnavailable, match="certificate is not trusted"):
                    await ari.ping()
    finally:
        shutil.rmtree(tls, ignore_errors=True)
