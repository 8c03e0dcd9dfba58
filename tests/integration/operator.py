"""What the operator-facing tests share: the `pbx-engine` command run as a subprocess, and a
database role that must give its password (the sandbox trusts every other)."""

import asyncio
import subprocess
import sys

import asyncpg

from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from tests.waiting import eventually


async def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pbx_engine.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def create_password_role(
    postgres: PostgresSandbox, role: str, password: str, database: str
) -> None:
    """`role`, owning `database`, asked for `password` by pg_hba.conf, as a deployment has it;
    returns once the server does ask."""
    conn = await asyncpg.connect(postgres.dsn())
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await conn.execute(f"CREATE DATABASE {database} OWNER {role}")
        hba = postgres.data_dir / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()

    async def asks_for_the_password() -> bool:
        try:
            wrong = await asyncpg.connect(
                host="127.0.0.1",
                port=postgres.port,
                user=role,
                password="Not-the-password-" + password,
                database=database,
            )
        except asyncpg.InvalidPasswordError:
            return True
        await wrong.close()
        return False

    # The server reads pg_hba.conf again on its own time: until then it trusts the role too.
    await eventually(asks_for_the_password, what="pg_hba.conf reloaded")
