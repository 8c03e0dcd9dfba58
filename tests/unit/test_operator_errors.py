"""Failures an operator can fix are one line naming the cause and the fix, found wherever they
sit in what reached the command line; anything else stays a traceback."""

import errno

import asyncpg
import pytest
import structlog

from pbx_engine.ami.client import login_failure
from pbx_engine.ari.errors import AriRefused
from pbx_engine.cli import main
from pbx_engine.config import ConfigError, DatabaseConfig
from pbx_engine.startup import AddressInUse, listening, operator_message
from pbx_engine.storage.queries import unavailable

DB = DatabaseConfig(host="10.1.2.3", port=5433, user="engine", name="pbx")


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "engine"'),
            'at 10.1.2.3:5433: password authentication failed for user "engine": check '
            "[database] user and password (or PBX_ENGINE_DATABASE_PASSWORD)",
        ),
        (
            asyncpg.InvalidCatalogNameError('database "pbx" does not exist'),
            'database "pbx" does not exist: check [database] name, or create the database',
        ),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('10.1.2.3', 5433)"),
            "at 10.1.2.3:5433: Connection refused: is PostgreSQL running and listening there? "
            "check [database] host and port",
        ),
    ],
)
def test_given_a_database_failure_when_explained_then_it_names_cause_and_fix(error, says):
    message = str(unavailable(error, DB))
    assert message.startswith("cannot connect to PostgreSQL")
    assert says in message
    assert "\n" not in message


def test_given_a_dsn_when_the_database_fails_then_the_message_names_the_setting_not_the_secret():
    config = DatabaseConfig(dsn="postgresql://engine:Hidden-pw@db/pbx")
    message = str(unavailable(asyncpg.InvalidPasswordError("password authentication"), config))
    assert "the [database] dsn" in message and "Hidden-pw" not in message


def test_given_ami_failures_when_explained_then_login_and_reach_are_told_apart():
    refused = str(login_failure("127.0.0.1", 5038, None))
    assert "refused the login: check [ami] username and secret" in refused
    unreachable = str(login_failure("127.0.0.1", 5038, "Connection refused"))
    assert "cannot reach AMI at 127.0.0.1:5038 (Connection refused)" in unreachable
    assert "check [ami] host and port" in unreachable


def test_given_a_taken_port_when_binding_then_the_error_names_the_setting():
    with pytest.raises(AddressInUse) as caught, listening("HTTP", "[http] port", "0.0.0.0", 8080):
        raise OSError(errno.EADDRINUSE, "error while attempting to bind")
    assert str(caught.value) == (
        "HTTP: 0.0.0.0:8080 is already in use by another program: stop it, or choose another "
        "port in [http] port"
    )
    with pytest.raises(PermissionError), listening("HTTP", "[http] port", "0.0.0.0", 80):
        raise PermissionError(errno.EACCES, "denied")


def test_given_an_error_deep_in_task_groups_when_explained_then_the_known_one_is_found():
    refused = AriRefused("ARI at http://127.0.0.1:8088/ refused user 'e' (HTTP 401): check\n[ari]")
    try:
        try:
            raise refused
        except AriRefused as inner:
            raise RuntimeError("while closing the dialer") from inner
    except RuntimeError as outer:
        group = ExceptionGroup("unhandled errors in a TaskGroup", [ValueError("x"), outer])
    assert operator_message(group) == (
        "ARI at http://127.0.0.1:8088/ refused user 'e' (HTTP 401): check [ari]"
    )


def test_given_a_user_without_privileges_when_migrating_then_the_message_says_to_own_the_db():
    error = asyncpg.InsufficientPrivilegeError("permission denied for schema public")
    assert operator_message(error) == (
        "PostgreSQL refused the [database] user: permission denied for schema public: the user "
        "must own the engine's database (docker/postgres-init/ shows how)"
    )


def test_given_a_bug_when_explained_then_there_is_no_message_and_the_traceback_stays():
    assert operator_message(ExceptionGroup("g", [KeyError("x")])) is None
    assert operator_message(ConfigError("engine.toml: 2 problem(s)\n  a: b")).count("\n") == 1


def test_given_an_unreachable_database_when_migrating_then_one_line_says_what_to_fix(
    tmp_path, capsys
):
    config = tmp_path / "engine.toml"
    config.write_text(
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n[database]\nport = 1\n'
    )
    assert main(["migrate", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "pbx-engine: cannot connect to PostgreSQL at 127.0.0.1:1: Connection refused: is "
        "PostgreSQL running and listening there? check [database] host and port"
    ]


def free_tcp_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_given_nothing_listening_when_ari_is_awaited_then_the_error_says_refused():
    from pbx_engine.ari.client import AriClient
    from pbx_engine.ari.errors import AriUnavailable
    from pbx_engine.config import AriConfig

    port = free_tcp_port()
    config = AriConfig(url=f"http://127.0.0.1:{port}", username="e", password="Ari-pass-of-t")
    async with AriClient(config) as ari:
        with pytest.raises(AriUnavailable) as caught:
            await ari.wait_connected(1)
    assert not isinstance(caught.value, AriRefused)
    assert "(Connection refused): is Asterisk running" in str(caught.value)
    assert "check [ari] url" in str(caught.value)


async def test_given_asterisk_refusing_the_user_when_ari_is_awaited_then_it_fails_at_once():
    import time

    from aiohttp import web

    from pbx_engine.ari.client import AriClient
    from pbx_engine.config import AriConfig

    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=401)

    app = web.Application()
    app.router.add_get("/ari/events", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_tcp_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    config = AriConfig(url=f"http://127.0.0.1:{port}", username="e", password="Ari-pass-of-t")
    try:
        async with AriClient(config) as ari:
            started = time.monotonic()
            with pytest.raises(AriRefused, match=r"refused user 'e' \(HTTP 401\): check \[ari\]"):
                await ari.wait_connected(30)
            assert time.monotonic() - started < 5  # no waiting out the timeout
    finally:
        await runner.cleanup()


async def test_given_ami_closed_or_silent_when_logging_in_then_the_two_are_told_apart():
    import asyncio

    from pbx_engine.ami.client import AmiClient, AmiUnavailable
    from pbx_engine.config import AmiConfig

    closed = AmiConfig(port=free_tcp_port(), username="e", secret="Ami-secret-of-t")
    with pytest.raises(AmiUnavailable, match="cannot reach AMI .* \\(Connection refused\\)"):
        async with AmiClient(closed, connect_timeout=0.5):
            pass

    async def silent(reader, writer):
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        answering = AmiConfig(port=port, username="e", secret="Ami-secret-of-t")
        with pytest.raises(AmiUnavailable, match="refused the login: check \\[ami\\] username"):
            async with AmiClient(answering, connect_timeout=0.5):
                pass
    finally:
        server.close()
