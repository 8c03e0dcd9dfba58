"""`pbx-engine migrate` and `run`, as an operator runs them, against a real PostgreSQL and a real
Asterisk with a wrong password: one line naming the cause and the fix, no traceback, exit 1."""

import json
from pathlib import Path

import pytest

from pbx_engine.lab.sandbox.asterisk import EngineSandbox
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from tests.integration.operator import create_password_role, run_cli

ROLE, PASSWORD = "guarded_engine", "Right-db-pass-of-test"


@pytest.fixture(scope="session")
async def password_role(postgres: PostgresSandbox) -> str:
    """A role that must give its password (the sandbox trusts every other)."""
    await create_password_role(postgres, ROLE, PASSWORD, "guarded")
    return ROLE


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def test_given_a_wrong_database_password_when_migrating_then_one_line_names_the_fix(
    postgres: PostgresSandbox, password_role: str, tmp_path: Path
):
    config = write_config(
        tmp_path / "engine.toml",
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n'
        f'[database]\nport = {postgres.port}\nuser = "{password_role}"\nname = "guarded"\n'
        'password = "Wrong-db-pass-of-test"\n',
    )
    done = await run_cli("migrate", "--config", str(config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"pbx-engine: cannot connect to PostgreSQL at 127.0.0.1:{postgres.port}: password "
        f'authentication failed for user "{password_role}": check [database] user and password '
        "(or PBX_ENGINE_DATABASE_PASSWORD)"
    ]
    # The right password gets in: the message was about the password, not the cluster.
    config.write_text(config.read_text().replace("Wrong-db-pass", "Right-db-pass"))
    done = await run_cli("migrate", "--config", str(config))
    assert done.returncode == 0, done.stderr


async def test_given_a_wrong_ari_password_when_running_then_the_json_log_ends_with_the_fix(
    engine_asterisk: EngineSandbox, database_dsn: str, tmp_path: Path
):
    config = write_config(
        tmp_path / "engine.toml",
        f'[ari]\nurl = "{engine_asterisk.ari_url}"\nusername = "{engine_asterisk.ari_username}"\n'
        'password = "Wrong-ari-pass-of-test"\napp = "pbx-engine-wrong-password"\n'
        f'[database]\ndsn = "{database_dsn}"\n[logging]\nformat = "json"\n',
    )
    done = await run_cli("run", "--no-migrate", "--config", str(config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line is JSON
    failures = [line for line in lines if line["event"] == "engine.cannot_start"]
    assert [f["problem"] for f in failures] == [
        f"ARI at {engine_asterisk.ari_url}/ refused user {engine_asterisk.ari_username!r} "
        "(HTTP 401): check [ari] username and password (they must match ari.conf)"
    ]
    assert lines[-1] == failures[0]
