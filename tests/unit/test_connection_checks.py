"""`check-config --connect`'s pure part: what each check found, as the line it prints and the
exit code; which secrets are unset; which migrations are pending. The connecting is tried in
tests/integration/test_check_connect.py."""

from __future__ import annotations

import socket

import asyncpg
import pytest
import structlog

from pbx_engine.ami.client import login_failure
from pbx_engine.ari.errors import refused
from pbx_engine.cli import build_parser, main
from pbx_engine.config import DatabaseConfig, EngineConfig, parse_config
from pbx_engine.connection_checks import probes
from pbx_engine.connection_checks.policy import (
    CheckResult,
    DatabaseFindings,
    Listener,
    Outcome,
    ami_result,
    ari_result,
    database_result,
    failure,
    listeners,
    ports_result,
    report,
    secrets_result,
    unset_secrets,
)
from pbx_engine.connection_checks.probes import probe_ports
from pbx_engine.storage.migrations import Migration, MigrationError, compare
from pbx_engine.storage.queries import unavailable

ARI = {"url": "http://127.0.0.1:8088", "username": "engine", "password": "Ari-pass-of-the-test"}
AMI = {"username": "engine", "secret": "Ami-secret-of-the-test"}
DB = {"password": "Db-pass-of-the-test"}


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()


def config(**sections) -> EngineConfig:
    return parse_config({"ari": ARI, **sections}, "test", environ={})


def ok(name: str, text: str = "fine") -> CheckResult:
    return CheckResult(name, Outcome.OK, text)


# ------------------------------------------------------------------------------ report
def test_given_every_check_passed_when_reported_then_one_ok_line_each_and_exit_0():
    lines, exit_code = report([ok("database", "writable"), ok("ari", "Asterisk 16")])
    assert lines == ["database: ok (writable)", "ari: ok (Asterisk 16)"]
    assert exit_code == 0


def test_given_one_check_failed_when_reported_then_its_line_is_the_problem_and_exit_1():
    failed = CheckResult("ari", Outcome.FAILED, "refused: check [ari] username and password")
    lines, exit_code = report([ok("database"), failed])
    assert lines[1] == "ari: refused: check [ari] username and password"
    assert exit_code == 1


def test_given_a_skipped_check_when_reported_then_it_does_not_fail_the_run():
    lines, exit_code = report([ok("database"), ami_result(None)])
    assert lines[1] == "ami: skipped (no [ami] section)"
    assert exit_code == 0


# ------------------------------------------------------------------------------ failures
@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            unavailable(
                asyncpg.InvalidPasswordError('password authentication failed for user "e"'),
                DatabaseConfig(user="e"),
            ),
            "database: cannot connect to PostgreSQL at 127.0.0.1:5432: password authentication "
            'failed for user "e": check [database] user and password '
            "(or PBX_ENGINE_DATABASE_PASSWORD)",
        ),
        (
            refused("http://pbx:8088/", "engine", "HTTP 401"),
            "ari: ARI at http://pbx:8088/ refused user 'engine' (HTTP 401): check [ari] "
            "username and password (they must match ari.conf)",
        ),
        (
            login_failure("pbx", 5038, "Connection refused"),
            "ami: cannot reach AMI at pbx:5038 (Connection refused): is Asterisk running "
            "with manager.conf enabled on that port? check [ami] host and port",
        ),
        (
            asyncpg.InsufficientPrivilegeError("permission denied for table schema_migrations"),
            "database: PostgreSQL refused the [database] user: permission denied for table "
            "schema_migrations: the user must own the engine's database (docker/postgres-init/ "
            "shows how)",
        ),
    ],
)
def test_given_a_known_failure_when_it_becomes_a_line_then_it_is_runs_own_message(error, line):
    name = line.split(":", 1)[0]
    assert failure(name, error).line == line


def test_given_a_failure_wrapped_in_a_group_when_it_becomes_a_line_then_the_cause_is_found():
    wrapped = ExceptionGroup("checks", [login_failure("pbx", 5038, None)])
    assert failure("ami", wrapped).line.startswith("ami: AMI at pbx:5038 refused the login")


def test_given_an_unexpected_error_when_it_becomes_a_line_then_it_is_named_on_one_line():
    result = failure("ari", ValueError("bad\nthing"))
    assert (result.outcome, result.line) == (Outcome.FAILED, "ari: ValueError: bad thing")
    assert failure("ari", RuntimeError()).line == "ari: RuntimeError"


# ------------------------------------------------------------------------------ secrets
def test_given_every_secret_set_when_checked_then_it_says_all_set():
    result = secrets_result(config(ami=AMI, database=DB))
    assert result.line == "secrets: ok (all set)"


def test_given_required_secrets_unset_when_checked_then_each_is_named_with_its_variable():
    # Left out of the file (an empty value is refused while parsing).
    ari = {k: v for k, v in ARI.items() if k != "password"}
    result = secrets_result(config(ari=ari, ami={"username": "engine"}, database=DB))
    assert result.outcome is Outcome.FAILED
    assert result.line == (
        "secrets: unset: ari.password (PBX_ENGINE_ARI_PASSWORD), ami.secret "
        "(PBX_ENGINE_AMI_SECRET): required to start: set them in the file or the environment"
    )


def test_given_optional_secrets_unset_when_checked_then_they_are_named_but_pass():
    result = secrets_result(config(http={}))
    assert result.outcome is Outcome.OK
    assert "database.password: PostgreSQL must let the user in without one" in result.text
    assert "http.secret: a random one each start" in result.text


def test_given_the_database_password_in_the_dsn_when_checked_then_it_is_not_unset():
    dsn = {"dsn": "postgresql://engine:Db-pass-of-the-test@db/pbx"}
    assert unset_secrets(config(database=dsn)) == []
    assert unset_secrets(config(database={"dsn": "postgresql://engine@db/pbx"})) == [
        "database.password"
    ]


def test_given_no_ami_section_when_checking_secrets_then_its_secret_is_not_asked_for():
    assert "ami.secret" not in unset_secrets(config(database=DB))


# ------------------------------------------------------------------------------ database
def found(**changes) -> DatabaseFindings:
    return DatabaseFindings(
        **{"where": "db:5432", "write_problem": None, "pending": [], "unknown": [], **changes}
    )


def test_given_a_writable_database_up_to_date_when_reported_then_it_says_so():
    assert database_result(found()).line == "database: ok (writable, migrations up to date)"


def test_given_pending_migrations_when_reported_then_they_are_named_and_it_passes():
    result = database_result(found(pending=["041_rooms", "042_pins"]))
    assert result.outcome is Outcome.OK
    assert result.line == (
        "database: ok (writable, 2 migration(s) pending (041_rooms, 042_pins): `run` applies "
        "them, or `pbx-engine migrate`)"
    )


def test_given_pending_migrations_the_user_may_not_apply_when_reported_then_it_fails():
    result = database_result(found(pending=["001_a"], may_create=False))
    assert result.line == (
        "database: 1 migration(s) pending, but the [database] user may not create tables: the "
        "user must own the engine's database (docker/postgres-init/ shows how)"
    )
    assert database_result(found(may_create=False)).outcome is Outcome.OK  # nothing to apply


def test_given_a_database_newer_than_the_code_when_reported_then_it_is_named():
    assert "the database has newer ones (043_x)" in database_result(found(unknown=["043_x"])).text


def test_given_a_read_only_database_when_reported_then_it_fails_naming_the_fix():
    result = database_result(found(write_problem="read-only"))
    assert result.outcome is Outcome.FAILED
    assert result.line.startswith("database: PostgreSQL at db:5432 takes no writes")
    assert result.line.endswith("point [database] at the primary")


# ------------------------------------------------------------------------------ ari, ami
def test_given_asterisks_info_when_reported_then_version_user_and_app_are_named():
    info = {"system": {"version": "16.28.0"}}
    assert ari_result(info, "engine", "pbx-engine", False).line == (
        "ari: ok (Asterisk 16.28.0, user 'engine', app pbx-engine free)"
    )
    assert "app pbx-engine registered now" in ari_result({}, "e", "pbx-engine", True).text


def test_given_an_ami_login_went_through_when_reported_then_user_and_address_are_named():
    ami = config(ami=AMI).ami
    assert ami_result(ami).line == "ami: ok (logged in and off as 'engine' at 127.0.0.1:5038)"


# ------------------------------------------------------------------------------ migrations
MIGRATIONS = [Migration(1, "001_a", "CREATE TABLE a ();"), Migration(2, "002_b", "SELECT 1;")]


def test_given_a_fresh_database_when_compared_then_every_migration_is_pending():
    state = compare(MIGRATIONS, {})
    assert [m.name for m in state.pending] == ["001_a", "002_b"] and state.unknown == []


def test_given_some_applied_when_compared_then_the_rest_are_pending_and_extras_named():
    applied = {1: ("001_a", MIGRATIONS[0].checksum), 7: ("007_later", "x")}
    state = compare(MIGRATIONS, applied)
    assert [m.name for m in state.pending] == ["002_b"] and state.unknown == ["007_later"]


def test_given_an_applied_migration_was_edited_when_compared_then_it_is_refused():
    with pytest.raises(MigrationError, match=r"001_a\.sql was changed after it was applied"):
        compare(MIGRATIONS, {1: ("001_a", "another checksum")})


# ------------------------------------------------------------------------------ the command
def test_given_connect_when_parsed_then_check_config_takes_it():
    args = build_parser().parse_args(["check-config", "--connect", "engine.toml"])
    assert args.connect is True
    assert build_parser().parse_args(["check-config", "engine.toml"]).connect is False


def test_given_connect_when_checking_then_the_lines_follow_the_file_and_decide_the_exit(
    tmp_path, capsys, monkeypatch
):
    async def checked(config: EngineConfig) -> list[CheckResult]:
        assert config.ari.password.get_secret_value() == ""  # the secrets line says it
        return [secrets_result(config), ok("database", "writable")]

    monkeypatch.setattr(probes, "check_connections", checked)
    path = tmp_path / "engine.toml"
    path.write_text('[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n')
    assert main(["check-config", "--connect", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}: ok")
    assert out[1].startswith("secrets: unset: ari.password (PBX_ENGINE_ARI_PASSWORD)")
    assert out[2] == "database: ok (writable)"


def test_given_an_invalid_file_when_checking_with_connect_then_nothing_is_tried(
    tmp_path, capsys, monkeypatch
):
    async def never(config: EngineConfig) -> list[CheckResult]:
        raise AssertionError("connected despite an invalid file")

    monkeypatch.setattr(probes, "check_connections", never)
    path = tmp_path / "engine.toml"
    path.write_text('[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n[dialer]\nx = 1\n')
    assert main(["check-config", "--connect", str(path)]) == 1
    assert "dialer.x (line 5): unknown key" in capsys.readouterr().err


def test_given_http_agi_and_metrics_when_listeners_are_listed_then_each_names_its_setting():
    config = parse_config(
        {
            "ari": {"url": "http://127.0.0.1:8088", "username": "u", "password": "p"},
            "http": {"port": 8081},
            "agi": {"port": 4574},
            "metrics": {"port": 9465},
        },
        "engine.toml",
        environ={},
    )
    assert [(lo.what, lo.setting, lo.port) for lo in listeners(config)] == [
        ("HTTP", "[http] port", 8081),
        ("FastAGI", "[agi] port", 4574),
        ("metrics", "[metrics] port", 9465),
    ]


def test_given_a_taken_port_when_the_ports_are_reported_then_the_line_names_it_and_its_setting():
    http = Listener("HTTP", "[http] port", "127.0.0.1", 8080)
    agi = Listener("FastAGI", "[agi] port", "127.0.0.1", 4573)
    result = ports_result([], [http, agi])
    assert result.outcome is Outcome.FAILED
    assert result.line == (
        "ports: HTTP: 127.0.0.1:8080 is already in use by another program: stop it, or choose "
        "another port in [http] port (also FastAGI 127.0.0.1:4573)"
    )
    assert ports_result([http], []).outcome is Outcome.OK
    assert ports_result([], []).outcome is Outcome.SKIPPED


def test_given_a_port_another_program_listens_on_when_probed_then_it_is_reported_taken():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        taken = probe_ports([Listener("HTTP", "[http] port", "127.0.0.1", port)])
    free = probe_ports([Listener("HTTP", "[http] port", "127.0.0.1", port)])
    assert taken.outcome is Outcome.FAILED and f"127.0.0.1:{port}" in taken.text
    assert free.outcome is Outcome.OK
