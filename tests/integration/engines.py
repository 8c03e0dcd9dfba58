"""Engines as ops run them, for the tests that kill, cut off or start several: `pbx-engine run`
with a TOML file written from settings, and the bits of its HTTP API those tests call."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp


def as_toml(settings: dict, prefix: str = "") -> str:
    """Enough TOML for these settings: strings, numbers, booleans, lists, nested tables."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(v)

    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{k} = {value(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    tables = [
        as_toml(table, f"{prefix}.{name}" if prefix else name)
        for name, table in settings.items()
        if isinstance(table, dict)
    ]
    return "\n".join(lines) + "\n\n" + "".join(tables)


@asynccontextmanager
async def engine_process(
    config_file: Path, log_file: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`pbx-engine run` as ops run it; killed with SIGKILL on the way out if still alive."""
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx_engine.cli", "run", "--config", str(config_file),
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def post(self, path: str, token: str) -> tuple[int, dict]:
        async with self.http.post(
            f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status, await response.json()

    async def up(self, token: str) -> bool:
        try:
            async with self.http.get(
                f"{self.base}/agents/me", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False
