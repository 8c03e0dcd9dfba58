"""The connecting side of `check-config --connect`: each probe tries one service with the
config's settings and credentials, once, within a timeout, and hands what it found to
policy.py. The probes run side by side, so the whole check takes about as long as the slowest.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable

from pbx_engine.ami.client import check_login
from pbx_engine.ari import AriClient, AriError, AriUnavailable
from pbx_engine.ari.errors import UNREACHABLE_FIX, refused
from pbx_engine.config import AmiConfig, AriConfig, DatabaseConfig, EngineConfig
from pbx_engine.connection_checks.policy import (
    CheckResult,
    DatabaseFindings,
    Listener,
    ami_result,
    ari_result,
    database_result,
    failure,
    listeners,
    ports_result,
    secrets_result,
)
from pbx_engine.storage import Storage
from pbx_engine.storage.migrations import migration_state
from pbx_engine.storage.queries import database_address, unavailable

CHECK_TIMEOUT = 5.0  # seconds per service: a firewall that drops packets answers never


async def check_connections(
    config: EngineConfig, timeout: float = CHECK_TIMEOUT
) -> list[CheckResult]:
    """The secrets, then PostgreSQL, ARI and AMI, tried at once, then the ports `run` listens
    on; in that order."""
    # Each Asterisk node on its own ([[ari.nodes]] share [ari]'s user and app).
    nodes = [
        (f"ari {node.name}", config.ari.model_copy(update={"url": node.url, "nodes": ()}))
        for node in config.ari.nodes
    ]
    found = await asyncio.gather(
        _guarded("database", probe_database(config.database, timeout)),
        _guarded("ari", probe_ari(config.ari.model_copy(update={"nodes": ()}), timeout)),
        *(_guarded(name, probe_ari(node, timeout, name)) for name, node in nodes),
        _guarded("ami", probe_ami(config.ami, timeout)),
    )
    return [secrets_result(config), *found, probe_ports(listeners(config))]


def probe_ports(wanted: list[Listener]) -> CheckResult:
    """Bind each address for a moment, as `run` will (a port in TIME_WAIT counts as free)."""
    free, taken = [], []
    for listener in wanted:
        try:
            family, kind, _, _, address = socket.getaddrinfo(
                listener.host, listener.port, type=socket.SOCK_STREAM
            )[0]
            with socket.socket(family, kind) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return failure("ports", error)
            taken.append(listener)
            continue
        free.append(listener)
    return ports_result(free, taken)


async def _guarded(name: str, probe: Awaitable[CheckResult]) -> CheckResult:
    try:
        return await probe
    except Exception as error:  # every failure becomes the check's line, never a traceback
        return failure(name, error)


async def probe_database(config: DatabaseConfig, timeout: float) -> CheckResult:
    """Connect as `run` does, ask whether a write would go through (the readiness probe's
    question), and read which migrations are pending, applying none."""
    try:
        async with asyncio.timeout(timeout):
            async with Storage.open(config) as storage:
                write_problem = await storage.write_problem(timeout)
                async with storage.pool.acquire() as connection:
                    state = await migration_state(connection)
                    # Where the migrations create their tables: none applies without it.
                    may_create = await connection.fetchval(
                        "SELECT coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)"
                    )
    except TimeoutError:
        raise unavailable(TimeoutError(f"no answer within {timeout:g} s"), config) from None
    return database_result(
        DatabaseFindings(
            where=database_address(config),
            write_problem=write_problem,
            pending=[migration.name for migration in state.pending],
            unknown=state.unknown,
            may_create=may_create,
        )
    )


async def probe_ari(config: AriConfig, timeout: float, name: str = "ari") -> CheckResult:
    """Plain REST requests with the [ari] user: never the events websocket, which would take
    the app name's events from an engine running now."""
    try:
        async with asyncio.timeout(timeout):
            async with AriClient(config, events=False) as ari:
                info = await ari.ping()
                registered = await _app_registered(ari)
    except AriError as error:
        if error.status in (401, 403):
            raise refused(config.url, config.username, f"HTTP {error.status}") from None
        # An HTTP server answered, but not ARI as the engine expects it.
        raise AriUnavailable(
            f"ARI at {config.url} answered {error.status} to {error.method} /ari{error.path}: "
            "is ARI enabled there (ari.conf, res_ari)? check [ari] url"
        ) from None
    except (AriUnavailable, TimeoutError) as error:
        cause = str(error) or f"no answer within {timeout:g} s"
        raise AriUnavailable(
            f"cannot reach ARI at {config.url} ({cause}): {UNREACHABLE_FIX}"
        ) from None
    return ari_result(info, config.username, config.app, registered, name)


async def _app_registered(ari: AriClient) -> bool:
    try:
        await ari.get_application()
    except AriError as error:
        if error.status == 404:
            return False
        raise
    return True


async def probe_ami(config: AmiConfig | None, timeout: float) -> CheckResult:
    """Log in and off: AMI is used for queries only, so a login is all it takes."""
    if config is not None:
        await check_login(config, timeout)
    return ami_result(config)
