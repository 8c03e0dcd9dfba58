"""A TCP proxy a test controls, to put a network fault between the engine and a PBX.

`blackhole()` makes every connection half-open, as a NAT or firewall that forgot the flow
does (or a pulled cable): the sockets stay open on both sides, nothing reaches the other side
any more, and neither side is told (no FIN, no reset). The bytes are read and dropped, so
neither sender blocks. Connections opened meanwhile are accepted and treated the same.

`restore()` brings the path back. The flows that lived through the blackhole have lost bytes
and cannot carry on (a websocket's frames would be cut): each is reset on both sides, as the
next packet of a forgotten flow is answered. New connections are forwarded again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

_CHUNK = 65536


@dataclass(eq=False)
class _Flow:
    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    stale: bool = False  # lived through a blackhole: never forwards again

    def reset(self) -> None:
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """Listens on `host`, a free port, and forwards each connection to `target`."""

    def __init__(self, target_host: str, target_port: int, *, host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._host = host
        self._server: asyncio.Server | None = None
        self._flows: set[_Flow] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.blackholed = False
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, self._host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._server is not None:
            self._server.close()
        # Reset flows end their handlers; cancelling those (asyncio's own tasks) would make
        # Python 3.11's stream callback raise.
        for flow in list(self._flows):
            flow.reset()
        if self._handlers:
            _, late = await asyncio.wait(self._handlers, timeout=5)
            for task in late:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def blackhole(self) -> None:
        """Stop forwarding in both directions, telling nobody."""
        self.blackholed = True
        for flow in self._flows:
            flow.stale = True
        log.info("tcp_proxy.blackholed", port=self.port, flows=len(self._flows))

    def restore(self) -> None:
        """Forward again; the flows the blackhole broke are reset on both sides."""
        stale = [flow for flow in self._flows if flow.stale]
        for flow in stale:
            flow.reset()
        self.blackholed = False
        log.info("tcp_proxy.restored", port=self.port, reset=len(stale))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        flow = _Flow(writer, stale=self.blackholed)
        self._flows.add(flow)
        try:
            await self._serve(flow, reader)
        finally:
            self._flows.discard(flow)
            self._handlers.discard(task)
            flow.reset()

    async def _serve(self, flow: _Flow, client_reader: asyncio.StreamReader) -> None:
        server_reader: asyncio.StreamReader | None = None
        if not flow.stale:
            try:
                server_reader, flow.server = await asyncio.open_connection(*self._target)
            except OSError:
                return
        async with asyncio.TaskGroup() as pumps:
            pumps.create_task(self._pump(flow, client_reader, lambda: flow.server))
            if server_reader is not None:
                pumps.create_task(self._pump(flow, server_reader, lambda: flow.client))

    async def _pump(
        self,
        flow: _Flow,
        source: asyncio.StreamReader,
        target: Callable[[], asyncio.StreamWriter | None],
    ) -> None:
        """Copy one direction until its end; a stale flow's bytes and its end are dropped."""
        while True:
            try:
                data = await source.read(_CHUNK)
            except OSError:
                data = b""
            if not data:
                if flow.stale:
                    return  # the end is lost too: the other side waits on
                break
            writer = target()
            if flow.stale or writer is None:
                continue
            try:
                writer.write(data)
                await writer.drain()
            except OSError:
                break
        writer = target()
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
