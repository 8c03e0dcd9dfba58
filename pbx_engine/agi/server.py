"""A FastAGI server for look-ups the dialplan cannot do itself.

The dialplan calls `AGI(agi://HOST:PORT/route,arg1,...)`; the route's handler answers by setting
channel variables. panoramisk's `Request` speaks the AGI command protocol; the connection handling
is ours, because a peer that closes before sending its headers must end the connection, not spin,
and a slow or silent peer must time out. FastAGI has no authentication: bind it to loopback.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from panoramisk.fast_agi import Request

from pbx_engine.config import AgiConfig
from pbx_engine.text import ControlCharacterError, refuse_control_characters

log = structlog.get_logger(__name__)

_HEADER_LIMIT = 16 * 1024
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnsafeAgiValue(ControlCharacterError):
    """A value that would end the AGI command early: refused, nothing was sent."""


def agi_argument(value: str, what: str) -> str:
    """`value` as one quoted AGI command argument. A line break ends an AGI command and starts
    the next (`SET VARIABLE X "R-1` then `EXEC System ...`), so a control character is refused,
    whoever gave the value; quotes and backslashes, which would end the argument, are escaped
    (res_agi reads `\\"` and `\\\\` inside quotes as the characters themselves)."""
    try:
        refuse_control_characters(value, what)
    except ControlCharacterError as error:
        raise UnsafeAgiValue(str(error)) from None
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def set_variable_command(name: str, value: str) -> str:
    """The AGI command that sets channel variable `name` to `value`, or UnsafeAgiValue."""
    if not _VARIABLE_NAME.fullmatch(name):
        raise UnsafeAgiValue(f"AGI variable name {name!r} is not a plain name")
    return f"SET VARIABLE {name} {agi_argument(value, f'AGI variable {name}')}"


@dataclass(frozen=True)
class AgiCall:
    """One FastAGI request: the route, its arguments and Asterisk's agi_* variables."""

    route: str
    args: tuple[str, ...]
    variables: dict[str, str]
    _request: Request

    @property
    def caller_number(self) -> str:
        return self.variables.get("agi_callerid", "")

    @property
    def extension(self) -> str:
        return self.variables.get("agi_extension", "")

    async def set_variable(self, name: str, value: str) -> None:
        """UnsafeAgiValue, before anything is sent, for a value that could end the command."""
        await self.set_variables({name: value})

    async def set_variables(self, values: dict[str, str]) -> None:
        """Every value is checked before the first is sent: one unsafe value, none sent."""
        commands = [set_variable_command(name, value) for name, value in values.items()]
        for name, command in zip(values, commands, strict=True):
            result = await self._request.send_command(command)
            if "error" in result:
                raise ConnectionError(f"SET VARIABLE {name} failed: {result.get('msg', result)}")


AgiHandler = Callable[[AgiCall], Awaitable[None]]


def parse_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("agi_"):
            headers[key] = value
    return headers


def route_of(headers: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """The route name and arguments of a request (`agi://host/route?x` keeps `route`)."""
    script = headers.get("agi_network_script", "").split("?", 1)[0].strip("/")
    args = []
    index = 1
    while f"agi_arg_{index}" in headers:
        args.append(headers[f"agi_arg_{index}"])
        index += 1
    return script, tuple(args)


class FastAgiServer:
    def __init__(self, config: AgiConfig, *, header_timeout: float = 5.0) -> None:
        self._config = config
        self._routes: dict[str, AgiHandler] = {}
        self._header_timeout = header_timeout
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()

    def add_route(self, name: str, handler: AgiHandler) -> None:
        if not asyncio.iscoroutinefunction(handler):
            raise TypeError(f"FastAGI route {name!r} needs an async handler")
        if name in self._routes:
            raise ValueError(f"FastAGI route {name!r} exists already")
        self._routes[name] = handler

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def __aenter__(self) -> FastAgiServer:
        self._server = await asyncio.start_server(
            self._serve, self._config.host, self._config.port, limit=_HEADER_LIMIT
        )
        log.info("agi.listening", host=self._config.host, port=self.port)
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._handle(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            block = await asyncio.wait_for(reader.readuntil(b"\n\n"), self._header_timeout)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            log.warning("agi.bad_request", error=type(error).__name__)
            return
        headers = parse_headers(block)
        route, args = route_of(headers)
        handler = self._routes.get(route)
        with structlog.contextvars.bound_contextvars(
            agi_route=route, channel=headers.get("agi_channel")
        ):
            if handler is None:
                log.error("agi.unknown_route")
                return
            call = AgiCall(route, args, headers, Request(None, headers, reader, writer))
            try:
                await handler(call)
            except (ConnectionError, asyncio.IncompleteReadError):
                log.info("agi.channel_gone")
            except UnsafeAgiValue as error:
                log.error("agi.unsafe_value_refused", reason=str(error))
            except Exception:
                log.exception("agi.handler_failed")
