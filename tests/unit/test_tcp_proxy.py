"""The lab's TCP proxy on loopback: forwards, drops everything while blackholed without telling
either side, and resets the flows the blackhole broke when the path comes back."""

from __future__ import annotations

import asyncio
import contextlib

from pbx_engine.lab.tcp_proxy import TcpProxy


class _Echo:
    """A loopback server that echoes, and records when a connection's end reaches it."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> _Echo:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(100):
                writer.write(data)
                await writer.drain()
        self.ended.set()
        writer.close()


async def _read_to_end(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), timeout=5)
    except ConnectionResetError:
        return b""


async def test_given_a_blackhole_when_bytes_are_sent_then_they_are_dropped_and_the_flow_reset():
    async with _Echo() as echo, TcpProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"hello")
        assert await reader.readexactly(5) == b"hello"
        proxy.blackhole()
        writer.write(b"lost")
        await writer.drain()
        proxy.restore()
        # Reset, and nothing of what was sent during the blackhole ever came back.
        assert await _read_to_end(reader) == b""
        writer.close()


async def test_given_a_blackhole_when_the_client_closes_then_the_server_is_not_told_until_restore():
    async with _Echo() as echo, TcpProxy("127.0.0.1", echo.port) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        proxy.blackhole()
        writer.close()
        await writer.wait_closed()
        assert not echo.ended.is_set()
        proxy.restore()
        await asyncio.wait_for(echo.ended.wait(), timeout=5)


async def test_given_the_path_restored_when_a_new_connection_opens_then_it_is_forwarded():
    async with _Echo() as echo, TcpProxy("127.0.0.1", echo.port) as proxy:
        proxy.blackhole()
        proxy.restore()
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"again")
        assert await reader.readexactly(5) == b"again"
        writer.close()
