"""A private PostgreSQL cluster in a temporary folder, on a free port, for tests and the demo."""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import structlog

from pbx_engine.sandbox.errors import SandboxError
from pbx_engine.sandbox.ports import free_port, require_free

log = structlog.get_logger(__name__)

_RUNNING: set[PostgresSandbox] = set()


def find_bindir() -> Path:
    """The server binaries: pg_config's answer, else the newest /usr/lib/postgresql/*/bin."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        raise SandboxError(
            "PostgreSQL server binaries (initdb) not found: install the "
            "postgresql package (scripts/setup.sh)"
        )
    return Path(found[-1]).parent


class PostgresSandbox:
    def __init__(self, *, user: str = "engine", port: int = 0, keep: bool = False) -> None:
        self.user = user
        self.port = port
        self.keep = keep
        self.host = "127.0.0.1"
        self.dir: Path | None = None
        self._bindir: Path | None = None
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None
        return self.dir / "data"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    async def __aenter__(self) -> PostgresSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def _run(self, *args: str) -> str:
        command = [str(self._bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
        )
        output, _ = await process.communicate()
        text = output.decode(errors="replace")
        if process.returncode != 0:
            raise SandboxError(f"{args[0]} failed ({process.returncode}): {text.strip()[-800:]}")
        return text

    async def start(self) -> None:
        self._bindir = find_bindir()
        self.port = self.port or free_port(self.host)
        require_free(self.host, self.port, socket.SOCK_STREAM, "PostgreSQL")
        self.dir = Path(tempfile.mkdtemp(prefix="pbx-postgres-"))
        if self._as_postgres:
            uid, gid = pwd.getpwnam("postgres")[2:4]
            os.chown(self.dir, uid, gid)
        _RUNNING.add(self)
        try:
            await self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                self.user,
                "-E",
                "UTF8",
                "--no-sync",
            )
            options = (
                f"-k {self.dir} -p {self.port} -c listen_addresses={self.host} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            await self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-o",
                options,
                "-l",
                str(self.dir / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            )
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info("sandbox.postgres_ready", port=self.port)

    async def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                conn = await asyncpg.connect(self.dsn())
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError) as error:
                if asyncio.get_running_loop().time() > deadline:
                    raise SandboxError(f"PostgreSQL did not accept connections: {error}") from None
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        _RUNNING.discard(self)
        if self.dir is None:
            return
        if (self.data_dir / "postmaster.pid").exists():
            try:
                await self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
            except SandboxError as error:
                log.warning("sandbox.postgres_stop_failed", error=str(error))
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    async def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (a copy of `template`, which is fast) and return its DSN."""
        conn = await asyncpg.connect(self.dsn())
        try:
            ident = '"' + name.replace('"', '""') + '"'
            sql = f"CREATE DATABASE {ident}"
            if template:
                sql += ' TEMPLATE "' + template.replace('"', '""') + '"'
            await conn.execute(sql)
        finally:
            await conn.close()
        return self.dsn(name)


@atexit.register
def _stop_strays() -> None:
    for sandbox in list(_RUNNING):
        if sandbox.dir is not None and sandbox._bindir is not None:
            command = [
                str(sandbox._bindir / "pg_ctl"),
                "-D",
                str(sandbox.data_dir),
                "-m",
                "immediate",
                "stop",
            ]
            if sandbox._as_postgres:
                command = ["runuser", "-u", "postgres", "--", *command]
            subprocess.run(command, capture_output=True)
            if not sandbox.keep:
                shutil.rmtree(sandbox.dir, ignore_errors=True)
