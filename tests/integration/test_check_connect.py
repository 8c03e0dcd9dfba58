"""`pbx-engine check-config --connect`, run as an operator runs it, against the sandbox
PostgreSQL and the engine's Asterisk: one line per connection, exit 0 only when all work, and
a wrong password or a closed port named on its line, never a traceback."""

import asyncio
import secrets
import socket
import subprocess
from pathlib import Path

import asyncpg
import pytest

from pbx_engine.ami.client import AmiUnavailable, check_login
from pbx_engine.ari import AriClient
from pbx_engine.config import AmiConfig, AriConfig, DatabaseConfig
from pbx_engine.connection_checks.policy import Outcome
from pbx_engine.connection_checks.probes import probe_ari, probe_database
from pbx_engine.lab.sandbox.asterisk import EngineSandbox
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import migrate
from tests.integration.operator import create_password_role, run_cli

ROLE, PASSWORD, DATABASE = "checked_engine", "Right-db-pass-of-check", "checked"
APP = "pbx-engine-check"  # no engine runs under it: the check must find it free


async def check_connect(config: Path) -> subprocess.CompletedProcess:
    return await run_cli("check-config", "--connect", str(config), timeout=60)


async def connect_as(port: int, password: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1", port=port, user=ROLE, password=password, database=DATABASE
    )


@pytest.fixture(scope="session")
async def engine_database(postgres: PostgresSandbox) -> int:
    """A role that must give its password (the sandbox trusts every other), owning a migrated
    database, as a deployment has it; the sandbox's port."""
    await create_password_role(postgres, ROLE, PASSWORD, DATABASE)
    owner = await connect_as(postgres.port, PASSWORD)
    try:
        await migrate(owner)
    finally:
        await owner.close()
    return postgres.port


def config_text(
    pbx: EngineSandbox,
    db_port: int,
    *,
    db_password: str = PASSWORD,
    ari_password: str | None = None,
    ami_port: int | None = None,
    http_port: int | None = None,
) -> str:
    http = (
        f'[http]\nport = {http_port}\nsecret = "{secrets.token_urlsafe(32)}"\n' if http_port else ""
    )
    return http + (
        f'[ari]\nurl = "{pbx.ari_url}"\nusername = "{pbx.ari_username}"\n'
        f'password = "{ari_password or pbx.ari_password}"\napp = "{APP}"\n'
        f'[ami]\nport = {ami_port or pbx.ami_port}\nusername = "{pbx.ami_username}"\n'
        f'secret = "{pbx.ami_secret}"\n'
        f'[database]\nport = {db_port}\nuser = "{ROLE}"\nname = "{DATABASE}"\n'
        f'password = "{db_password}"\n'
    )


async def test_given_every_setting_right_when_checking_then_each_connection_says_ok(
    engine_asterisk: EngineSandbox, engine_database: int, tmp_path: Path
):
    config = tmp_path / "engine.toml"
    http_port = free_port("127.0.0.1")
    config.write_text(config_text(engine_asterisk, engine_database, http_port=http_port))
    done = await check_connect(config)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{config}: ok")
    checks = {line.split(":", 1)[0]: line for line in lines[1:]}
    assert list(checks) == ["secrets", "database", "ari", "ami", "ports"]
    assert checks["secrets"] == "secrets: ok (all set)"
    assert checks["database"] == "database: ok (writable, migrations up to date)"
    assert checks["ari"].startswith("ari: ok (Asterisk 16.")
    assert checks["ari"].endswith(f"user {engine_asterisk.ari_username!r}, app {APP} free)")
    assert checks["ami"] == (
        f"ami: ok (logged in and off as {engine_asterisk.ami_username!r} at "
        f"127.0.0.1:{engine_asterisk.ami_port})"
    )
    assert checks["ports"] == f"ports: ok (free: HTTP 127.0.0.1:{http_port})"


async def test_given_wrong_passwords_and_a_closed_port_when_checking_then_each_is_named(
    engine_asterisk: EngineSandbox, engine_database: int, tmp_path: Path
):
    closed = free_port("127.0.0.1")
    config = tmp_path / "engine.toml"
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    http_port = taken.getsockname()[1]
    config.write_text(
        config_text(
            engine_asterisk,
            engine_database,
            db_password="Wrong-db-pass-of-check",
            ari_password="Wrong-ari-pass-of-check",
            ami_port=closed,
            http_port=http_port,
        )
    )
    with taken:
        done = await check_connect(config)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[1:] == [
        "secrets: ok (all set)",
        f"database: cannot connect to PostgreSQL at 127.0.0.1:{engine_database}: password "
        f'authentication failed for user "{ROLE}": check [database] user and password '
        "(or PBX_ENGINE_DATABASE_PASSWORD)",
        f"ari: ARI at {engine_asterisk.ari_url}/ refused user {engine_asterisk.ari_username!r} "
        "(HTTP 401): check [ari] username and password (they must match ari.conf)",
        f"ami: cannot reach AMI at 127.0.0.1:{closed} (Connection refused): is Asterisk "
        "running with manager.conf enabled on that port? check [ami] host and port",
        f"ports: HTTP: 127.0.0.1:{http_port} is already in use by another program: stop it, "
        "or choose another port in [http] port",
    ]


async def test_given_a_further_node_down_when_checking_then_that_node_is_named(
    engine_asterisk: EngineSandbox, engine_database: int, tmp_path: Path
):
    closed = free_port("127.0.0.1")
    config = tmp_path / "engine.toml"
    text = config_text(engine_asterisk, engine_database)
    node = f'[[ari.nodes]]\nname = "media-2"\nurl = "http://127.0.0.1:{closed}"\n'
    config.write_text(text.replace("[ami]\n", node + "[ami]\n", 1))
    done = await check_connect(config)
    assert done.returncode == 1
    checks = {line.split(":", 1)[0]: line for line in done.stdout.splitlines()[1:]}
    assert list(checks) == ["secrets", "database", "ari", "ari media-2", "ami", "ports"]
    assert checks["ari"].startswith("ari: ok (Asterisk 16.")
    assert checks["ari media-2"].startswith(
        f"ari media-2: cannot reach ARI at http://127.0.0.1:{closed}/ ("
    )


# The probes alone, in this process: the cases that need no second command.
async def test_given_a_wrong_ami_secret_when_logging_in_once_then_the_refusal_is_named(
    engine_asterisk: EngineSandbox,
):
    ami = AmiConfig(
        port=engine_asterisk.ami_port,
        username=engine_asterisk.ami_username,
        secret="Wrong-ami-secret-of-check",
    )
    with pytest.raises(AmiUnavailable, match=r"refused the login: check \[ami\] username"):
        await asyncio.wait_for(check_login(ami, timeout=5), 5)


async def test_given_an_engine_holds_the_app_when_checking_ari_then_it_keeps_its_events(
    engine_asterisk: EngineSandbox,
):
    ari = AriConfig(
        url=engine_asterisk.ari_url,
        username=engine_asterisk.ari_username,
        password=engine_asterisk.ari_password,
        app="pbx-engine-held",
    )
    async with AriClient(ari) as running:
        await running.wait_connected(5)
        result = await probe_ari(ari, timeout=5)
        assert "app pbx-engine-held registered now: an engine is connected" in result.text
        # No second websocket took the app: the running one still has it.
        assert running.connected.is_set()
        assert (await running.get_application())["name"] == "pbx-engine-held"


async def test_given_a_user_who_may_not_create_tables_when_migrations_are_pending_then_it_fails(
    postgres: PostgresSandbox, engine_database: int
):
    """A database the [database] user does not own: nothing of the schema can be made."""
    name = f"not_owned_{secrets.token_hex(3)}"
    await postgres.create_database(name)
    try:
        database = DatabaseConfig(port=postgres.port, user=ROLE, password=PASSWORD, name=name)
        result = await probe_database(database, timeout=5)
    finally:
        await postgres.drop_database(name)
    assert result.outcome is Outcome.FAILED
    assert "the [database] user may not create tables" in result.line
