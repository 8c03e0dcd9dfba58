"""scripts/install.sh with its virtual environment, under DESTDIR (about 45 s here, most of it
pip): the project installed in it, not editable, and the installed command, as the operator
runs it, migrating a database that asks for the generated password, rendering Asterisk's config
from the installed tree and passing check-config."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from tests.integration.operator import create_password_role
from tests.unit.test_install_script import ETC, PREFIX, read_env_file, under

ROOT = Path(__file__).parents[2]
ROLE, DATABASE = "installed_engine", "installed"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destdir = tmp_path_factory.mktemp("installed")
    env = {**os.environ, "DESTDIR": str(destdir)}
    env.pop("PBX_ENGINE_INSTALL_SKIP_VENV", None)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return destdir


def staged_command(destdir: Path, tmp_path: Path) -> Path:
    """/usr/local/bin/pbx-engine with its /opt and /etc paths pointed into DESTDIR."""
    text = under(destdir, "/usr/local/bin/pbx-engine").read_text()
    command = tmp_path / "pbx-engine"
    command.write_text(
        text.replace(PREFIX, str(under(destdir, PREFIX))).replace(ETC, str(under(destdir, ETC)))
    )
    command.chmod(0o755)
    return command


def staged_config(destdir: Path, tmp_path: Path, db_port: int) -> Path:
    etc = under(destdir, ETC)
    text = (
        (etc / "engine.toml")
        .read_text()
        .replace(f"{ETC}/", f"{etc}/")
        .replace("port = 5432", f"port = {db_port}")
        .replace('user = "engine"', f'user = "{ROLE}"')
        .replace('name = "pbx_engine"', f'name = "{DATABASE}"')
    )
    config = tmp_path / "engine.toml"
    config.write_text(text)
    return config


async def run(*args: str | Path) -> subprocess.CompletedProcess:
    # Only what a root shell would have: the secrets come from secrets.env, through the command.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PBX_ENGINE_", "VIRTUAL_ENV"))
    }
    return await asyncio.to_thread(
        subprocess.run,
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )


async def test_the_installed_engine_is_not_the_source_tree(installed: Path):
    python = under(installed, f"{PREFIX}/.venv/bin/python")
    result = await run(python, "-c", "import pbx_engine; print(pbx_engine.__file__)")
    assert result.returncode == 0, result.stderr
    site = under(installed, f"{PREFIX}/.venv/lib")
    assert Path(result.stdout.strip()).is_relative_to(site), result.stdout
    assert not under(installed, f"{PREFIX}/build").exists()


async def test_the_installed_command_migrates_renders_and_checks_with_the_made_secrets(
    installed: Path, postgres: PostgresSandbox, tmp_path: Path
):
    secrets = read_env_file(under(installed, f"{ETC}/secrets.env"))
    await create_password_role(postgres, ROLE, secrets["PBX_ENGINE_DATABASE_PASSWORD"], DATABASE)
    command = staged_command(installed, tmp_path)
    config = staged_config(installed, tmp_path, postgres.port)

    migrated = await run(command, "migrate", "--config", config)
    assert migrated.returncode == 0, migrated.stderr

    rendered = await run(command, "asterisk", "render", "--config", config, "--out", tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    ari = (tmp_path / "etc" / "ari.conf").read_text()
    assert secrets["PBX_ENGINE_ARI_PASSWORD"] in ari

    checked = await run(command, "check-config", config)
    assert checked.returncode == 0, checked.stderr
    assert "campaign first (preview)" in checked.stdout
