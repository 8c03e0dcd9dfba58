"""Deployment defaults: what an operator gets when he follows the shipped files.

Example secrets and short signing secrets stop the engine at start; the compose file mounts the
operator's config, never the example; the systemd unit is sandboxed; the AMI user holds the
fewest classes; call audio from anyone but the PBX is dropped; debtors' numbers do not reach the
logs; a database role that is a superuser is called out; the setup script kills nothing.
"""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import structlog
import yaml
from structlog.testing import capture_logs

from pbx_engine.amd.listener import ListenerSettings
from pbx_engine.amd.live import RtpIntake, media_peer_addresses
from pbx_engine.ari import AriClient
from pbx_engine.cli import main
from pbx_engine.config import AriConfig, ConfigError, load_config, parse_config
from pbx_engine.lab.sandbox.asterisk import Telephony
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.logs import configure_logging
from pbx_engine.storage import migrate
from pbx_engine.storage.roles import current_role, warn_if_privileged
from tests.waiting import eventually

ROOT = Path(__file__).parents[2]
DOCKER = ROOT / "docker"
EXAMPLE = DOCKER / "engine.example.toml"
MINIMAL = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine"}}
GOOD = "a-secret-of-our-own-0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()


def operator_config(tmp_path: Path) -> Path:
    """The shipped example as an operator copies it: its file names pointed at the examples."""
    (tmp_path / "campaigns").mkdir(exist_ok=True)
    (tmp_path / "campaigns" / "acme.toml").write_text('name = "acme"\ndial_mode = "preview"\n')
    path = tmp_path / "engine.toml"
    path.write_text(
        EXAMPLE.read_text()
        .replace('"/etc/pbx-engine/campaigns/*.toml"', f'"{tmp_path}/campaigns/*.toml"')
        .replace('"/etc/pbx-engine/numbers.toml"', f'"{DOCKER / "numbers.example.toml"}"')
    )
    return path


def example_env_values() -> dict[str, str]:
    values = {}
    for line in (DOCKER / "compose.env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


# ----------------------------------------------------------------------------- secrets


SECRET_VARIABLES = (
    "PBX_ENGINE_ARI_PASSWORD",
    "PBX_ENGINE_AMI_SECRET",
    "PBX_ENGINE_DATABASE_PASSWORD",
)


@pytest.mark.parametrize("variable", SECRET_VARIABLES)
@pytest.mark.parametrize("placeholder", ["change-me", "change-me-too", "CHANGE_ME", "secret", ""])
def test_starting_with_an_example_secret_is_refused(
    tmp_path, capsys, monkeypatch, variable, placeholder
):
    path = operator_config(tmp_path)
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, GOOD)
    assert main(["check-config", str(path)]) == 0
    capsys.readouterr()

    monkeypatch.setenv(variable, placeholder)
    key = {"PBX_ENGINE_ARI_PASSWORD": "ari.password", "PBX_ENGINE_AMI_SECRET": "ami.secret"}.get(
        variable, "database.password"
    )
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        assert main(command) == 1
        problem = [line for line in capsys.readouterr().err.splitlines() if key in line]
        assert len(problem) == 1, problem
        assert "placeholder" in problem[0] or "empty" in problem[0]


def test_the_shipped_env_example_holds_no_secret_the_engine_would_take():
    values = example_env_values()
    for name in ("ARI_PASSWORD", "AMI_SECRET", "DATABASE_PASSWORD", "DATABASE_ADMIN_PASSWORD"):
        assert values[name] == "", f"{name} must be the operator's own"


def test_starting_without_the_ari_password_is_refused_naming_the_setting(tmp_path, capsys):
    path = operator_config(tmp_path)
    assert main(["run", "--config", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "ari.password: required to start" in err and "PBX_ENGINE_ARI_PASSWORD" in err


def test_a_placeholder_password_inside_the_database_dsn_is_refused():
    raw = {**MINIMAL, "database": {"dsn": "postgresql://engine:change-me@127.0.0.1/pbx_engine"}}
    with pytest.raises(ConfigError, match=r"database\.dsn: a well-known placeholder"):
        parse_config(raw, environ={})


@pytest.mark.parametrize("short", ["k" * 31, "0123456789abcdef", "é" * 15])
def test_a_short_invitation_secret_is_refused(short):
    raw = {**MINIMAL, "http": {"secret": short}}
    with pytest.raises(ConfigError, match=r"http\.secret: too short: at least 32 bytes"):
        parse_config(raw, environ={})
    with pytest.raises(ConfigError, match=r"http\.secret: too short"):
        parse_config({**MINIMAL, "http": {}}, environ={"PBX_ENGINE_HTTP_SECRET": short})
    assert parse_config({**MINIMAL, "http": {"secret": "k" * 7 + GOOD}}, environ={}).http


def test_the_example_config_opens_no_room_to_outside_callers_with_a_known_pin():
    config = load_config(EXAMPLE, environ={})
    assert [room for room in config.rooms if room.did] == []
    text = EXAMPLE.read_text()
    assert not re.search(r'^\s*(moderator_)?pin\s*=\s*"?(1234|9999|0000)', text, re.M)
    assert config.logging.mask_numbers


# ----------------------------------------------------------------------------- compose


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def binds(service: dict) -> list[tuple[str, str]]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            if source.startswith((".", "/")):
                found.append((source, target))
        elif volume.get("type") == "bind":
            found.append((volume["source"], volume["target"]))
    return found


def test_compose_does_not_put_the_example_config_live():
    for name, service in compose()["services"].items():
        for source, _ in binds(service):
            assert "example" not in source, f"{name} mounts {source}"
    engine = compose()["services"]["engine"]
    (mount,) = [v for v in engine["volumes"] if isinstance(v, dict)]
    assert (mount["source"], mount["target"]) == ("./config", "/etc/pbx-engine")
    assert mount["read_only"] is True
    # A missing folder must stop compose, not become an empty folder the engine starts on.
    assert mount["bind"]["create_host_path"] is False


def test_compose_mounts_every_file_the_engine_and_image_name():
    services = compose()["services"]
    engine_targets = [target for _, target in binds(services["engine"])]
    config = load_config(EXAMPLE, environ={})
    named = [*config.campaign_files, str(config.number_pools_file)]
    named.append("/etc/pbx-engine/engine.toml")  # the image's CMD
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert '"/etc/pbx-engine/engine.toml"' in dockerfile
    for path in named:
        assert any(path.startswith(target.rstrip("/") + "/") for target in engine_targets), path
    # Every mount from the repository itself exists in it.
    for name, service in services.items():
        for source, _ in binds(service):
            if source != "./config":
                assert (DOCKER / source).exists(), f"{name}: {source} is missing"


def test_compose_never_starts_on_an_unset_secret():
    services = compose()["services"]
    text = (DOCKER / "compose.yaml").read_text()
    for variable in ("ARI_PASSWORD", "AMI_SECRET", "DATABASE_PASSWORD", "DATABASE_ADMIN_PASSWORD"):
        uses = re.findall(r"\$\{" + variable + r"(:[?-])?[^}]*\}", text)
        assert uses and all(use == ":?" for use in uses), variable
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] != "engine"  # the superuser is not the engine's role
    assert postgres["ENGINE_DATABASE_USER"] == "engine"


# ----------------------------------------------------------------------------- systemd

UNIT = DOCKER / "systemd" / "pbx-engine.service"


def unit_directives() -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def test_the_systemd_unit_sandboxes_the_engine():
    d = unit_directives()
    expected = {
        "User": "pbx-engine",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
        "SystemCallArchitectures": "native",
        "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes",
        "UMask": "0027",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], key
    assert "@system-service" in d["SystemCallFilter"]
    assert d["ReadWritePaths"] == ["/var/lib/pbx-engine"]


def test_systemd_analyze_verifies_the_unit_without_a_warning(tmp_path):
    # No skip: Debian's systemd package (setup.sh) brings it.
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing"
    # The unit names the installed venv; verify checks that the program exists.
    unit = tmp_path / "pbx-engine.service"
    unit.write_text(UNIT.read_text().replace("/opt/pbx-engine/.venv/bin/pbx-engine", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr  # an unknown or misspelt key warns here


_UNDER_MDWE = """
import ctypes, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, refuse W+X
    sys.exit(77)
import asyncio, mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    sys.exit("writable and executable memory was still allowed")
except PermissionError:
    pass
import aiohttp, asyncpg
from aiohttp import web
import pbx_engine.engine, pbx_engine.cli
from pbx_engine.signin.passwords import hash_password, verify_password

async def main(dsn):
    conn = await asyncpg.connect(dsn)
    assert await conn.fetchval("SELECT 1 + 1") == 2
    await conn.close()
    app = web.Application()
    app.router.add_get("/", lambda request: web.Response(text="up"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/") as response:
            assert await response.text() == "up"
    await runner.cleanup()
    assert verify_password("a long pass phrase", hash_password("a long pass phrase"))
    print("ok")

asyncio.run(main(sys.argv[1]))
"""


async def test_memory_deny_write_execute_does_not_stop_python_asyncpg_or_aiohttp(
    postgres: PostgresSandbox,
):
    # systemd's MemoryDenyWriteExecute is the kernel's rule PR_SET_MDWE (Linux 6.3+) applies.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _UNDER_MDWE, postgres.dsn(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    if process.returncode == 77:
        pytest.skip("this kernel has no PR_SET_MDWE")
    assert (process.returncode, out.decode().strip()) == (0, "ok"), err.decode()[-2000:]


# ----------------------------------------------------------------------------- AMI

MANAGER_CONF = ROOT / "asterisk-config" / "common" / "manager.conf"


def manager_user() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(MANAGER_CONF.read_text())
    return parser["@@AMI_USERNAME@@"]


def test_the_ami_user_holds_only_the_classes_the_engine_uses():
    user = manager_user()
    classes = {c.strip() for c in user["read"].split(",") if c.strip()}
    assert classes == set()  # "Events: off": the engine's events come from ARI
    assert {c.strip() for c in user["write"].split(",")} == {"reporting"}  # DeviceStateList
    assert user["deny"] == "0.0.0.0/0.0.0.0"
    assert user["permit"] == "127.0.0.1/255.255.255.255"
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(MANAGER_CONF.read_text())
    assert parser["general"]["bindaddr"] == "127.0.0.1"
    # The engine sends no action beyond those (Login, Logoff and Ping need no class).
    client = (ROOT / "pbx_engine" / "ami" / "client.py").read_text()
    sent = set(re.findall(r'"Action": "(\w+)"', client)) - {"Login", "Logoff", "Ping"}
    assert sent == {"DeviceStateList"}


async def ami_exchange(host: str, port: int, *actions: dict[str, str]) -> list[dict[str, str]]:
    """Each action's first answer, over one raw AMI connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    try:
        await reader.readline()  # "Asterisk Call Manager/…"
        answers = []
        for number, action in enumerate(actions):
            lines = "".join(f"{k}: {v}\r\n" for k, v in {**action, "ActionID": str(number)}.items())
            writer.write((lines + "\r\n").encode())
            await writer.drain()
            while True:
                block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                message = dict(
                    line.split(": ", 1) for line in block.decode().splitlines() if ": " in line
                )
                if message.get("ActionID") == str(number) and "Response" in message:
                    answers.append(message)
                    break
        return answers
    finally:
        writer.close()


async def test_originate_command_and_config_reads_with_the_engines_ami_login_are_refused(
    telephony: Telephony,
):
    pbx = telephony.engine
    login = {"Action": "Login", "Username": pbx.ami_username, "Secret": pbx.ami_secret}
    answers = await ami_exchange(
        "127.0.0.1",
        pbx.ami_port,
        {**login, "Events": "off"},
        {"Action": "Originate", "Channel": "Local/s@default", "Application": "Wait", "Data": "1"},
        {"Action": "Command", "Command": "core show version"},
        {"Action": "GetConfig", "Filename": "manager.conf"},  # every secret, were it allowed
        {"Action": "ModuleLoad", "Module": "app_system.so", "LoadType": "load"},
        {"Action": "Setvar", "Variable": "GLOBAL(x)", "Value": "1"},
        {"Action": "DeviceStateList"},
    )
    assert answers[0]["Response"] == "Success"
    for refused in answers[1:6]:
        assert refused["Response"] == "Error" and "Permission denied" in refused["Message"], answers
    assert answers[6]["Response"] == "Success"  # what the engine needs still works


# ----------------------------------------------------------------------------- RTP


def rtp(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, sequence, sequence * 160, 7) + b"\xff" * 160


async def test_rtp_from_an_address_other_than_the_pbx_is_dropped():
    # The peer as the engine derives it when [dialer] media_peer is unset: the ARI url's host.
    ari = AriClient(AriConfig(url="http://127.0.0.1:8088", username="engine", password=GOOD))
    peers = await media_peer_addresses(ari.host)
    loop = asyncio.get_running_loop()
    transport, intake = await loop.create_datagram_endpoint(
        lambda: RtpIntake(ListenerSettings(), structlog.get_logger(), peers=peers),
        local_addr=("127.0.0.1", 0),
    )
    port = transport.get_extra_info("sockname")[1]
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pbx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        intruder.bind(("127.0.0.2", 0))
        pbx.bind(("127.0.0.1", 0))
        for n in range(50):  # loud enough to sway a verdict, were it heard
            intruder.sendto(rtp(n), ("127.0.0.1", port))
        pbx.sendto(rtp(1000), ("127.0.0.1", port))

        async def all_arrived() -> bool:
            return intake.foreign >= 50 and intake.packets >= 1

        await eventually(all_arrived, timeout=3, interval=0.01, what="the datagrams")
    finally:
        intruder.close()
        pbx.close()
        transport.close()
    assert (intake.foreign, intake.packets) == (50, 1)


# ----------------------------------------------------------------------------- logs


def test_a_debtors_number_never_reaches_the_log_line(capsys):
    configure_logging("info", "console", stream=sys.stdout)
    structlog.get_logger().warning(
        "dialer.call_failed", number="+12025551234", error="PJSIP/+12025551234@pstn: busy"
    )
    line = capsys.readouterr().out
    assert "2025551234" not in line
    assert "number=+*******1234" in line and "PJSIP/+*******1234@pstn" in line


def test_the_engines_own_logging_masks_numbers_by_default(capsys):
    configure_logging("info", "json", stream=sys.stdout)
    structlog.get_logger().info("inbound.call", caller="+48601234567", case_id=123456789)
    line = capsys.readouterr().out
    assert "+48601234567" not in line and "+*******4567" in line and "123456789" in line


# ----------------------------------------------------------------------------- database role

INIT_SCRIPT = DOCKER / "postgres-init" / "10-engine-role.sh"


@pytest.fixture
async def owner_role(postgres: PostgresSandbox):
    """The compose file's engine role, made by its init script on the sandbox cluster."""
    role, database = f"engine_owner_{os.getpid()}", f"deploy_{os.getpid()}"
    environ = {
        **os.environ,
        "POSTGRES_USER": postgres.user,
        "PGHOST": postgres.host,
        "PGPORT": str(postgres.port),
        "ENGINE_DATABASE_USER": role,
        "ENGINE_DATABASE_NAME": database,
        "ENGINE_DATABASE_PASSWORD": GOOD,
    }
    process = await asyncio.create_subprocess_exec(
        "sh", str(INIT_SCRIPT), env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    try:
        yield role, f"postgresql://{role}@{postgres.host}:{postgres.port}/{database}"
    finally:
        admin = await asyncpg.connect(postgres.dsn())
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()


async def test_an_engine_running_as_a_superuser_is_warned_about_at_start(database_dsn: str):
    conn = await asyncpg.connect(database_dsn)
    try:
        with capture_logs() as logs:
            role = await warn_if_privileged(conn)
        assert role.superuser
        (warning,) = [e for e in logs if e["event"] == "database.role_too_powerful"]
        assert warning["log_level"] == "error" and "SUPERUSER" in warning["privileges"]
        with capture_logs() as logs:
            await warn_if_privileged(conn, allow_superuser=True)
        assert logs == []
    finally:
        await conn.close()


async def test_the_compose_role_migrates_its_database_and_holds_nothing_more(owner_role):
    name, dsn = owner_role
    conn = await asyncpg.connect(dsn)
    try:
        assert await migrate(conn)  # it owns its database: the migrations run as it
        role = await current_role(conn)
        assert role.name == name and role.excess() == ()
        with capture_logs() as logs:
            await warn_if_privileged(conn)
        assert logs == []
    finally:
        await conn.close()


async def test_shell_commands_through_copy_program_as_the_engine_role_are_refused(owner_role):
    _, dsn = owner_role
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("COPY (SELECT 1) TO PROGRAM 'touch /tmp/pbx-engine-pwned'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE ROLE intruder LOGIN SUPERUSER")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT pg_read_file('postgresql.conf')")
    finally:
        await conn.close()
    assert not Path("/tmp/pbx-engine-pwned").exists()  # noqa: ASYNC240 (one stat, at the end)


# ----------------------------------------------------------------------------- setup.sh

SETUP = ROOT / "scripts" / "setup.sh"


def test_setup_kills_no_process_on_the_machine_it_runs_on():
    code = "\n".join(
        line for line in SETUP.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert not re.search(r"\b(pkill|killall|kill)\b", code)
    assert not re.search(r"\b(systemctl|service)\s+(stop|kill|restart)\b", code)


def test_setup_installs_asterisk_with_bullseye_security_updates_pinned_to_asterisk():
    text = SETUP.read_text()
    assert re.search(r"^deb .*debian-security bullseye-security main$", text, re.M)
    assert re.search(r"^Pin: release n=bullseye", text, re.M)
    assert re.search(r"^Pin: release n=bullseye-security", text, re.M)


def policy_rc_d_handling(path: Path) -> str:
    """setup.sh's own lines that make and remove policy-rc.d, aimed at `path`."""
    text = SETUP.read_text()
    start = text.index("policy_rc_d=/usr/sbin/policy-rc.d")
    end = text.index("\n", text.index("INT TERM HUP", start))
    return text[start:end].replace("/usr/sbin/policy-rc.d", str(path))


@pytest.mark.parametrize("signal_name", ["TERM", "INT", "HUP", None])
def test_setup_killed_midway_leaves_no_policy_rc_d_behind(tmp_path, signal_name):
    made = tmp_path / "policy-rc.d"
    ending = f"kill -{signal_name} $$; sleep 5" if signal_name else "false"
    script = (
        "set -euo pipefail\nlog() { :; }\n"
        + policy_rc_d_handling(made)
        + f'\nmade_policy=1\ntouch "{made}"\n{ending}\necho still-running\n'
    )
    result = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=10,
        preexec_fn=default_signal_handling,
    )
    assert not made.exists()
    assert result.returncode != 0 and "still-running" not in result.stdout


def default_signal_handling() -> None:
    """A signal ignored when bash starts cannot be trapped: a suite started in the background
    (`nohup`, `cmd &` in a script) hands INT and HUP down ignored, and setup.sh's trap would
    seem not to work. Run as an operator's terminal would."""
    for number in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def test_setup_leaves_a_policy_rc_d_it_did_not_make(tmp_path):
    theirs = tmp_path / "policy-rc.d"
    theirs.write_text("#!/bin/sh\nexit 0\n")
    script = "set -euo pipefail\n" + policy_rc_d_handling(theirs) + "\nkill -TERM $$; sleep 5\n"
    subprocess.run(["bash", "-c", script], capture_output=True, timeout=10)
    assert theirs.read_text() == "#!/bin/sh\nexit 0\n"


def test_the_engine_container_runs_read_only_without_capabilities():
    engine = compose()["services"]["engine"]
    assert engine["read_only"] is True and engine["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in engine["security_opt"]
    assert "USER pbx-engine" in (DOCKER / "Dockerfile").read_text()
