"""Test hosts in network namespaces: a server inside is reached over a link; a cut link drops
packets without a word (a client times out, nothing is refused) while another link to the same
host carries on; a restored link works again; and the host leaves nothing on the machine."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.netns import TestHost
from tests.waiting import eventually

pytestmark = pytest.mark.integration

PORT = 7000
# A server that greets every client with one line.
SERVER = f"""
import socket
server = socket.create_server(("0.0.0.0", {PORT}))
while True:
    client, _ = server.accept()
    client.sendall(b"hello\\n")
    client.close()
"""


async def greeting(address: str, timeout: float) -> bytes:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(address, PORT), timeout)
    try:
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()


async def test_a_cut_link_drops_silently_the_other_carries_on_and_nothing_is_left(tmp_path):
    async with TestHost("hosttest") as host:
        first, second = await host.link(), await host.link()
        server = await processes.launch(
            host.command(sys.executable, "-c", SERVER),
            what="greeting server",
            log_file=tmp_path / "server.log",
        )
        try:

            async def answering() -> bytes | None:
                try:
                    return await greeting(first.address, 1.0)
                except OSError:
                    return None  # not listening yet

            assert await eventually(answering, timeout=5, what="the server") == b"hello\n"

            await first.cut()
            with pytest.raises((TimeoutError, OSError)) as dropped:
                await greeting(first.address, 2.0)
            # Dropped, not refused: a refusal would be a reset, which a partition never sends.
            assert not isinstance(dropped.value, ConnectionRefusedError)
            assert await greeting(second.address, 2.0) == b"hello\n"

            await first.restore()
            assert await greeting(first.address, 5.0) == b"hello\n"
        finally:
            await processes.end(server, "greeting server", hard=True)
        near = [link.near for link in host.links]

    interfaces = await processes.run(["ip", "-o", "link"], what="ip link")
    assert not [name for name in near if f" {name}@" in interfaces or f" {name}:" in interfaces]
    assert host.name not in await processes.run(["ip", "netns", "list"], what="ip netns")


async def test_a_host_left_by_a_killed_run_is_swept_when_the_next_is_made():
    stale = "pbxe-4194305-db"  # above any pid Linux hands out: its process is surely gone
    await processes.run(["ip", "netns", "add", stale], what="ip netns add")
    try:
        async with TestHost("sweeper"):
            assert stale not in await processes.run(["ip", "netns", "list"], what="ip netns")
    finally:
        with contextlib.suppress(SandboxError):  # swept, as it should be
            await processes.run(["ip", "netns", "delete", stale], what="ip netns delete")
