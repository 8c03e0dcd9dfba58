"""Why the engine could not start, in one line an operator acts on.

The components raise typed errors whose message names the cause and the fix (the database's
`StorageUnavailable`, ARI's `AriRefused`/`AriUnavailable`, AMI's `AmiUnavailable`, a taken
port's `AddressInUse`, a bad file's `ConfigError`); `operator_message` finds the first of them in
whatever reached the command line (task groups wrap errors in ExceptionGroups, exit stacks chain
them), so the command prints that line instead of a traceback.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from pbx_engine.ami.client import AmiUnavailable
from pbx_engine.ari.errors import AriUnavailable
from pbx_engine.config import ConfigError
from pbx_engine.recordkeeper.journal import JournalError
from pbx_engine.storage.queries import StorageUnavailable


class AddressInUse(OSError):
    """A port the engine listens on (HTTP, FastAGI) is taken by another program."""

    def __init__(self, what: str, setting: str, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"{what}: {host}:{port} is already in use by another program: stop it, or "
            f"choose another port in {setting}",
        )

    def __str__(self) -> str:
        return str(self.strerror)


@contextmanager
def listening(what: str, setting: str, host: str, port: int) -> Iterator[None]:
    """Turn "address already in use" while binding into an AddressInUse naming the setting."""
    try:
        yield
    except OSError as error:
        if error.errno != errno.EADDRINUSE or isinstance(error, AddressInUse):
            raise
        raise AddressInUse(what, setting, host, port) from None


KNOWN = (
    StorageUnavailable,
    AriUnavailable,
    AmiUnavailable,
    AddressInUse,
    ConfigError,
    JournalError,
)


def _causes(error: BaseException, seen: set[int]) -> Iterator[BaseException]:
    if id(error) in seen:
        return
    seen.add(id(error))
    yield error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _causes(inner, seen)
    for linked in (error.__cause__, error.__context__):
        if linked is not None:
            yield from _causes(linked, seen)


def operator_message(error: BaseException) -> str | None:
    """The first known failure's message, on one line (a config file's problems: one line
    each); None for anything else (a bug: the
    traceback is then what helps)."""
    for cause in _causes(error, set()):
        if isinstance(cause, ConfigError):
            return str(cause)  # a file's problems, one per line, as check-config lists them
        if isinstance(cause, asyncpg.InsufficientPrivilegeError):
            first = (str(cause).splitlines() or ["permission denied"])[0]
            return (
                f"PostgreSQL refused the [database] user: {first}: the user must own the "
                "engine's database (docker/postgres-init/ shows how)"
            )
        if isinstance(cause, KNOWN):
            return " ".join(str(cause).split())
    return None
