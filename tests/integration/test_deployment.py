"""The engine deployed as an operator deploys it, and a real softphone on each side of a call:
`pbx-engine migrate`, `agent add`, `asterisk render`, a plain `asterisk -C ...`, `check-config
--connect`, `pbx-engine run`, `import cases`, then the agent logs in over the API and a
campaign dials the debtor.

Both phones are baresip: the agent's registers with the engine's Asterisk and sends a 700 Hz
tone; the debtor's is the far end of the trunk (the number dialled is its account), says
"Hello?" and then sends a 1300 Hz tone. Each must hear the other's tone, and the call must be
recorded, on disk and in the database."""

import asyncio
import os
import pwd
import re
import shutil
import socket
import sys
import tempfile
import wave
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.audio import Speech, read_mono16, render, tone, tone_levels
from pbx_engine.lab.sandbox.baresip import BaresipPhone, free_sip_port
from pbx_engine.lab.sandbox.ports import free_port, free_udp_range
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from tests.integration.operator import run_cli
from tests.waiting import eventually

AGENT_TONE, DEBTOR_TONE = 700, 1300
DEBTOR_NUMBER = "+12025550143"
CAMPAIGN = "deploy"
TALK_SECONDS = 5.0
# After its "Hello?" the debtor waits this long before its tone: AMD hears a person who waits
# for an answer, and the agent hears silence for the first seconds after they are bridged.
WAITS_AFTER_HELLO = 2.5


@dataclass
class Deployment:
    folder: Path  # engine.toml and the files it names
    run_dir: Path  # Asterisk's, rendered
    dsn: str
    http_port: int
    sip_port: int
    debtor_port: int  # the trunk's far end: the debtor's softphone
    token: str = ""  # the agent's (a supervisor: he may start the campaign)

    @property
    def config(self) -> Path:
        return self.folder / "engine.toml"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def engine_log(self) -> Path:
        return self.folder / "engine.log"


def engine_toml(d: Deployment) -> str:
    rtp = free_udp_range("0.0.0.0", 200, start=50000, stop=58000)
    return f"""
default_region = "US"
campaign_files = ["{d.folder}/campaigns/*.toml"]
state_dir = "{d.folder}/state"

[ari]
url = "http://127.0.0.1:{free_port()}"
username = "engine-deploy"
password = "Deploy-test-ari-pass"
app = "pbx-engine-deploy"

[ami]
port = {free_port()}
username = "engine-deploy"
secret = "Deploy-test-ami-secret"

[agi]
port = {free_port()}

[asterisk]
run_dir = "{d.run_dir}"
sip_host = "127.0.0.1"
sip_port = {d.sip_port}
trunk_host = "127.0.0.2"
trunk_port = {d.debtor_port}
rtp_start = {rtp}
rtp_end = {rtp + 199}
agents_file = "{d.folder}/agents.conf"

[database]
dsn = "{d.dsn}"
allow_superuser = true

[dialer]
caller_id = "+13125550000"
ring_timeout = 15

[agents]
wrap_up_seconds = 1

[http]
port = {d.http_port}
secret = "Deploy-test-http-secret-of-32-bytes-or-more"

[logging]
format = "json"
mask_numbers = false
"""


CAMPAIGN_TOML = f"""
name = "{CAMPAIGN}"
dial_mode = "progressive"
compliance = "plain"
agents = ["anna"]
caller_id = "+13125550000"
[recording]
mode = "mixed"
retention_days = 30
"""


async def cli(*args: str) -> str:
    done = await run_cli(*args)
    assert done.returncode == 0, f"pbx-engine {' '.join(args[:2])}: {done.stderr[-2000:]}"
    return done.stdout


async def add_agent(deployment: Deployment, login: str, endpoint: str) -> str:
    """`agent add`, as the README has it once Asterisk runs: the engine makes the agent and his
    softphone account (PJSIP endpoint, aor, auth pushed over ARI) and shows the account's
    password once, on stderr. Returns that password; the agent's API token goes in
    `deployment.token`."""
    done = await run_cli(
        "agent", "add", login, "--name", "Anna Nowak", "--endpoint", endpoint,
        "--role", "supervisor", "--config", str(deployment.config),
    )  # fmt: skip
    assert done.returncode == 0, f"pbx-engine agent add: {done.stderr[-2000:]}"
    shown = re.search(rf"SIP password for {re.escape(endpoint)}: (\S+)", done.stderr)
    assert shown is not None, f"no SIP password shown: {done.stderr[-500:]}"
    deployment.token = done.stdout.strip().splitlines()[-1]
    return shown.group(1)


@asynccontextmanager
async def prepared_host():
    """What an operator does before starting anything: the config files, a database (a
    private cluster here), `pbx-engine migrate` (the agent comes once Asterisk runs).
    Folders removed on leaving."""
    async with AsyncExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="pbx-deploy-"))
        # Apart from `folder` (mode 0700): Asterisk runs as its own user and must reach it.
        run_dir = Path(tempfile.mkdtemp(prefix="pbx-deploy-asterisk-"))
        for made in (folder, run_dir):
            processes.remove_at_exit(made)
            stack.callback(processes.forget_folder, made)
            stack.callback(shutil.rmtree, made, ignore_errors=True)
        postgres = await stack.enter_async_context(PostgresSandbox())
        deployment = Deployment(
            folder=folder,
            run_dir=run_dir,
            dsn=await postgres.create_database("deploy"),
            http_port=free_port(),
            sip_port=free_port("127.0.0.1", socket.SOCK_DGRAM),
            debtor_port=free_sip_port("127.0.0.2"),
        )
        (folder / "campaigns").mkdir()
        (folder / "state").mkdir()  # the unit's StateDirectory= makes /var/lib/pbx-engine
        (folder / "campaigns" / f"{CAMPAIGN}.toml").write_text(CAMPAIGN_TOML)
        (folder / "agents.conf").write_text("; agents' softphones\n")
        deployment.config.write_text(engine_toml(deployment))
        await cli("migrate", "--config", str(deployment.config))
        yield deployment


@asynccontextmanager
async def plain_asterisk(deployment: Deployment):
    """`pbx-engine asterisk render`, then Asterisk on its output as the `asterisk` user (as
    root) or as ourselves, owned by the test; yields once it is fully booted."""
    asterisk_conf = str(deployment.run_dir / "etc" / "asterisk.conf")
    render_args = ["--out", str(deployment.run_dir)]
    as_user: dict = {}
    if os.geteuid() == 0:
        render_args += ["--owner", "asterisk"]
        entry = pwd.getpwnam("asterisk")
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    await cli("asterisk", "render", "--config", str(deployment.config), *render_args)
    asterisk = await asyncio.create_subprocess_exec(
        processes.require_binary("asterisk", package="asterisk"),
        "-C", asterisk_conf, "-f", "-n", "-q",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=processes.DIE_WITH_PARENT,
        **as_user,
    )  # fmt: skip
    processes.track(asterisk, "deployed Asterisk")
    try:
        control = deployment.run_dir / "run" / "asterisk.ctl"

        async def listening() -> bool:
            assert asterisk.returncode is None, "Asterisk exited at start"
            return control.exists()

        await eventually(listening, timeout=20, what="Asterisk's control socket")
        await processes.run(
            ["asterisk", "-C", asterisk_conf, "-rx", "core waitfullybooted"],
            what="Asterisk to boot",
            timeout=30,
        )
        yield asterisk
    finally:
        await processes.end(asterisk, "deployed Asterisk")


@asynccontextmanager
async def running_engine(deployment: Deployment):
    """`pbx-engine run` as a subprocess, its JSON log in the deployment's folder; yields once
    /ready answers 200, ends it with SIGTERM (as systemd does)."""
    with deployment.engine_log.open("wb") as output:
        engine = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx_engine.cli", "run", "--config", str(deployment.config),
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output,
            start_new_session=True, preexec_fn=processes.DIE_WITH_PARENT,
        )  # fmt: skip
    processes.track(engine, "pbx-engine run")
    try:

        async def ready() -> bool:
            assert engine.returncode is None, f"engine exited: {log_tail(deployment.engine_log)}"
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"{deployment.api}/ready") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(ready, timeout=30, what="the engine's /ready")
        yield engine
    finally:
        await processes.end(engine, "pbx-engine run", grace=10)


def log_tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


async def debtor_voice(folder: Path) -> Path:
    """ "Hello?", WAITS_AFTER_HELLO s of silence, then the debtor's tone."""
    hello = await render(Speech("Hello?"))
    padded, voice = folder / "hello-padded.wav", folder / "debtor.wav"
    await processes.run(
        ["sox", str(hello), str(padded), "pad", "0.3", str(WAITS_AFTER_HELLO)], what="sox (pad)"
    )
    await processes.run(
        ["sox", str(padded), str(await tone(DEBTOR_TONE)), str(voice)], what="sox (join)"
    )
    return voice


async def import_cases(deployment: Deployment) -> None:
    cases = deployment.folder / "cases.csv"
    cases.write_text(
        "reference,debtor_name,amount_owed,currency,creditor,phones\n"
        f"D-1,Maria Lopez,420.50,USD,Acme,{DEBTOR_NUMBER}\n"
    )
    await cli(
        "import", "cases", str(cases), "--campaign", CAMPAIGN, "--config", str(deployment.config)
    )  # fmt: skip


def seconds_with(path: Path, frequency: int, level: float = 2000) -> float:
    """How long `frequency` is loud in a 16-bit mono WAV (100 ms windows; a full-scale tone
    at the volume the phones send measures about 16000)."""
    return sum(0.1 for amplitude in tone_levels(path, frequency) if amplitude >= level)


def duration(path: Path) -> float:
    rate, samples = read_mono16(path)
    return len(samples) / rate


async def attempt_row(dsn: str) -> asyncpg.Record | None:
    """The debtor's call attempt with its recording."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(
            "SELECT a.*, r.name AS recording, r.leg, r.started_at AS recording_started, "
            "r.ended_at AS recording_ended FROM call_attempts a "
            "LEFT JOIN recordings r ON r.attempt_id = a.id WHERE a.dialled = $1",
            DEBTOR_NUMBER,
        )
    finally:
        await conn.close()


async def recording_closed(phone: BaresipPhone) -> bool:
    """The phone's one call is over and its recording complete."""
    heard = phone.heard()
    if phone.calls_ended < 1 or len(heard) != 1:
        return False
    try:
        return duration(heard[0]) > 0
    except (wave.Error, EOFError):  # its header not written yet
        return False


async def test_given_an_operator_deployment_when_a_campaign_calls_a_softphone_then_both_hear_and_it_is_recorded():  # noqa: E501
    processes.require_binary("baresip", package="baresip-core")
    async with AsyncExitStack() as stack:
        deployment = await stack.enter_async_context(prepared_host())
        await stack.enter_async_context(plain_asterisk(deployment))
        agent_password = await add_agent(deployment, "anna", "agent-001")
        # README's step 8: every connection and port the engine will use, before it runs.
        await cli("check-config", "--connect", str(deployment.config))
        agent_phone = await stack.enter_async_context(
            BaresipPhone(
                "agent-001",
                await tone(AGENT_TONE),
                password=agent_password,
                registrar=("127.0.0.1", deployment.sip_port),
            )
        )
        debtor_phone = await stack.enter_async_context(
            BaresipPhone(
                DEBTOR_NUMBER,
                await debtor_voice(deployment.folder),
                host="127.0.0.2",
                port=deployment.debtor_port,
            )
        )
        await stack.enter_async_context(running_engine(deployment))
        await import_cases(deployment)

        await log_in_and_start_the_campaign(deployment, agent_phone)
        await converse(deployment, debtor_phone)
        await log_out(deployment, agent_phone)
        await check_the_recording(deployment)


async def log_in_and_start_the_campaign(deployment: Deployment, agent_phone: BaresipPhone) -> None:
    """The agent logs in (his phone is rung and answers: the shift's call), then he starts the
    campaign (he is a supervisor too)."""
    async with aiohttp.ClientSession(headers=auth(deployment)) as http:
        async with http.post(f"{deployment.api}/agents/me/login") as response:
            assert response.status == 200, await response.text()

        async def agent_ready() -> bool:
            async with http.get(f"{deployment.api}/agents/me") as response:
                return (await response.json())["state"] == "ready"

        await eventually(agent_ready, timeout=15, what="anna ready")
        assert agent_phone.answered == 1
        async with http.post(f"{deployment.api}/campaigns/{CAMPAIGN}/start") as response:
            assert response.status == 200, await response.text()


def auth(deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployment.token}"}


async def converse(deployment: Deployment, debtor_phone: BaresipPhone) -> None:
    """The debtor is called, put through to the agent, talks and hangs up; the debtor heard
    the agent's tone and nothing of his own."""

    async def bridged() -> bool:
        row = await attempt_row(deployment.dsn)
        return row is not None and row["bridged_at"] is not None

    await eventually(
        bridged,
        timeout=30,
        what=f"the debtor put through to anna: {debtor_phone.log_text[-1500:]}"
        f"\n{log_tail(deployment.engine_log)}",
    )
    await asyncio.sleep(TALK_SECONDS)  # the conversation, both tones going both ways
    await debtor_phone.hang_up()

    async def ended() -> bool:
        row = await attempt_row(deployment.dsn)
        return row["ended_at"] is not None and row["recording_ended"] is not None

    await eventually(ended, timeout=15, what="the attempt and its recording to end")
    await eventually(
        lambda: recording_closed(debtor_phone), timeout=10, what="the debtor's recording"
    )
    (debtor_heard,) = debtor_phone.heard()
    assert seconds_with(debtor_heard, AGENT_TONE) >= TALK_SECONDS - 1.5
    assert seconds_with(debtor_heard, DEBTOR_TONE) < 0.5


async def log_out(deployment: Deployment, agent_phone: BaresipPhone) -> None:
    """The shift ends: the engine hangs up the agent's phone, whose recording of the shift
    has the debtor's tone (from the bridge on, after the debtor's silence) and not his own."""
    async with (
        aiohttp.ClientSession(headers=auth(deployment)) as http,
        http.post(f"{deployment.api}/agents/me/logout") as response,
    ):
        assert response.status == 200, await response.text()
    await eventually(
        lambda: recording_closed(agent_phone), timeout=10, what="the agent's recording"
    )
    (agent_heard,) = agent_phone.heard()
    assert seconds_with(agent_heard, DEBTOR_TONE) >= TALK_SECONDS - WAITS_AFTER_HELLO - 1.5
    assert seconds_with(agent_heard, AGENT_TONE) < 0.5


async def check_the_recording(deployment: Deployment) -> None:
    """A person, put through, recorded in one file under Asterisk's recording folder: as long
    as the database says the recording lasted, both parties heard on it."""
    row = await attempt_row(deployment.dsn)
    assert row["outcome"] == "human" and row["leg"] == "mixed", dict(row)
    assert row["bridged_at"] is not None and row["amd_status"] == "HUMAN", dict(row)
    recorded = deployment.run_dir / "spool" / "recording" / f"{row['recording']}.wav"
    assert recorded.is_file(), sorted(recorded.parent.iterdir())
    lasted = (row["recording_ended"] - row["recording_started"]).total_seconds()
    # The recording starts a moment after the bridge the talk is timed from (Asterisk's
    # RecordingStarted): it covers the talk less those milliseconds.
    assert lasted >= TALK_SECONDS - 0.5, lasted
    assert abs(duration(recorded) - lasted) < 1.5, (duration(recorded), lasted)
    # Both parties are on it.
    assert seconds_with(recorded, AGENT_TONE) >= TALK_SECONDS - 1.5
    assert seconds_with(recorded, DEBTOR_TONE) >= TALK_SECONDS - WAITS_AFTER_HELLO - 1.5
