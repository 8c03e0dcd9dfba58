"""From what each check found to the lines `check-config --connect` prints and its exit code.

Pure: the probes (probes.py) connect and hand their findings or their error here. A failure's
line is the one `run` would have died with (startup.operator_message), so the two never differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pbx_engine.config import AmiConfig, EngineConfig
from pbx_engine.startup import operator_message


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class CheckResult:
    name: str  # "secrets", "database", "ari", "ami"
    outcome: Outcome
    text: str  # ok, skipped: what was found; failed: the problem and its fix

    @property
    def line(self) -> str:
        if self.outcome is Outcome.FAILED:
            return f"{self.name}: {self.text}"
        return f"{self.name}: {self.outcome} ({self.text})"


def report(results: Sequence[CheckResult]) -> tuple[list[str], int]:
    """One line per check, and the exit code: 0 only when none failed."""
    failed = any(result.outcome is Outcome.FAILED for result in results)
    return [result.line for result in results], 1 if failed else 0


def failure(name: str, error: BaseException) -> CheckResult:
    """A check that raised: the operator's line for a known failure, else the error itself on
    one line (a check reports; it never shows a traceback)."""
    message = operator_message(error)
    if message is None:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return CheckResult(name, Outcome.FAILED, " ".join(message.split()))


# A secret that may be left out, and what that means.
_OPTIONAL_SECRETS = {
    "database.password": "PostgreSQL must let the user in without one",
    "http.secret": "a random one each start: invitation links die at a restart",
}
_ENVIRONMENT = {
    "ari.password": "PBX_ENGINE_ARI_PASSWORD",
    "ami.secret": "PBX_ENGINE_AMI_SECRET",
}


def unset_secrets(config: EngineConfig) -> list[str]:
    """The secrets the engine would use that are unset or empty, by setting name."""
    unset = []
    if not config.ari.password.get_secret_value():
        unset.append("ari.password")
    if config.ami is not None and not config.ami.secret.get_secret_value():
        unset.append("ami.secret")
    database = config.database
    in_dsn = urlsplit(database.dsn).password if database.dsn else None
    if not in_dsn and not database.password.get_secret_value():
        unset.append("database.password")
    if config.http is not None and not config.http.secret.get_secret_value():
        unset.append("http.secret")
    return unset


def secrets_result(config: EngineConfig) -> CheckResult:
    """Failed when a secret `run` requires is unset (ARI's password, AMI's secret); the
    optional ones are named with what leaving them out means."""
    unset = unset_secrets(config)
    required = [name for name in unset if name not in _OPTIONAL_SECRETS]
    optional = "; ".join(
        f"{name}: {_OPTIONAL_SECRETS[name]}" for name in unset if name in _OPTIONAL_SECRETS
    )
    if required:
        named = ", ".join(f"{name} ({_ENVIRONMENT[name]})" for name in required)
        text = f"unset: {named}: required to start: set them in the file or the environment"
        return CheckResult(
            "secrets", Outcome.FAILED, text + (f"; also unset: {optional}" if optional else "")
        )
    return CheckResult("secrets", Outcome.OK, f"unset: {optional}" if optional else "all set")


@dataclass(frozen=True)
class DatabaseFindings:
    where: str  # host:port, or "the [database] dsn"
    write_problem: str | None  # Storage.write_problem's answer: None when writable
    pending: list[str]  # migrations `run` would apply
    unknown: list[str]  # applied migrations this code does not have (it was rolled back)
    may_create: bool = True  # the user may create tables where the migrations put them


def database_result(found: DatabaseFindings) -> CheckResult:
    """Failed when PostgreSQL takes no writes, or when migrations are pending that the user
    may not apply; pending migrations pass otherwise, since `run` applies them (they are
    named, for an engine started with --no-migrate)."""
    if found.write_problem == "read-only":
        return CheckResult(
            "database",
            Outcome.FAILED,
            f"PostgreSQL at {found.where} takes no writes (a standby, or "
            "default_transaction_read_only is on): point [database] at the primary",
        )
    if found.write_problem is not None:
        return CheckResult(
            "database",
            Outcome.FAILED,
            f"PostgreSQL at {found.where} let the user in, then failed a query "
            f"({found.write_problem}): check the server's log",
        )
    if found.pending and not found.may_create:
        return CheckResult(
            "database",
            Outcome.FAILED,
            f"{len(found.pending)} migration(s) pending, but the [database] user may not "
            "create tables: the user must own the engine's database (docker/postgres-init/ "
            "shows how)",
        )
    if found.pending:
        migrations = (
            f"{len(found.pending)} migration(s) pending ({', '.join(found.pending)}): `run` "
            "applies them, or `pbx-engine migrate`"
        )
    else:
        migrations = "migrations up to date"
    if found.unknown:
        migrations += f"; the database has newer ones ({', '.join(found.unknown)})"
    return CheckResult("database", Outcome.OK, f"writable, {migrations}")


def ari_result(
    info: dict[str, Any], username: str, app: str, app_registered: bool, name: str = "ari"
) -> CheckResult:
    """`info`: GET /asterisk/info's answer; `app_registered`: an events websocket holds the
    engine's app name now (an engine running with this file, most likely). `name`: the check's,
    "ari" or "ari NODE" for a further node."""
    version = (info.get("system") or {}).get("version") or "of unknown version"
    held = "registered now: an engine is connected" if app_registered else "free"
    return CheckResult(name, Outcome.OK, f"Asterisk {version}, user {username!r}, app {app} {held}")


def ami_result(config: AmiConfig | None) -> CheckResult:
    """After a login and logoff went through; skipped without an [ami] section."""
    if config is None:
        return CheckResult("ami", Outcome.SKIPPED, "no [ami] section")
    where = f"{config.host}:{config.port}"
    return CheckResult("ami", Outcome.OK, f"logged in and off as {config.username!r} at {where}")


@dataclass(frozen=True)
class Listener:
    what: str  # "HTTP", "FastAGI", "metrics"
    setting: str  # where the operator changes it
    host: str
    port: int

    @property
    def where(self) -> str:
        return f"{self.what} {self.host}:{self.port}"


def listeners(config: EngineConfig) -> list[Listener]:
    """The addresses `run` will listen on, as its config says."""
    found = []
    if config.http is not None:
        found.append(Listener("HTTP", "[http] port", config.http.host, config.http.port))
    if config.agi is not None:
        found.append(Listener("FastAGI", "[agi] port", config.agi.host, config.agi.port))
    if config.metrics is not None:
        found.append(
            Listener("metrics", "[metrics] port", config.metrics.host, config.metrics.port)
        )
    return found


def ports_result(free: Sequence[Listener], taken: Sequence[Listener]) -> CheckResult:
    """Failed when a port `run` would listen on is taken (an engine already running with this
    file takes them all: stop it first, or read this as that)."""
    if taken:
        first = taken[0]
        others = f" (also {', '.join(t.where for t in taken[1:])})" if taken[1:] else ""
        return CheckResult(
            "ports",
            Outcome.FAILED,
            f"{first.what}: {first.host}:{first.port} is already in use by another program: "
            f"stop it, or choose another port in {first.setting}{others}",
        )
    if not free:
        return CheckResult("ports", Outcome.SKIPPED, "the engine listens on no port")
    return CheckResult("ports", Outcome.OK, f"free: {', '.join(f.where for f in free)}")
