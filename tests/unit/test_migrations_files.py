"""The migration files themselves, checked without a database."""

import re

import pytest

from pbx_engine.resources import SQL_DIR
from pbx_engine.storage.migrations import SCHEMA_FILE, MigrationError, load_migrations


def test_given_the_repository_when_loading_migrations_then_versions_run_from_1_without_gaps():
    versions = [m.version for m in load_migrations()]
    # A gap usually means a file lost in a merge; the runner would not notice.
    assert versions == list(range(1, len(versions) + 1))
    assert load_migrations()[0].name == "001_initial"


@pytest.mark.parametrize("migration", load_migrations(SQL_DIR), ids=lambda m: m.name)
def test_given_a_migration_file_then_it_can_run_inside_the_runners_transaction(migration):
    code = re.sub(r"--[^\n]*", "", migration.sql).upper()
    # Each file runs in one transaction the runner owns: its own BEGIN/COMMIT would end that
    # transaction early, and CONCURRENTLY (or VACUUM) cannot run in one at all.
    for word in ("BEGIN", "COMMIT", "ROLLBACK", "CONCURRENTLY", "VACUUM"):
        assert not re.search(rf"\b{word}\b", code), f"{migration.name} uses {word}"
    assert code.strip(), f"{migration.name} is empty"


def test_given_two_files_with_one_version_when_loading_then_both_are_named(tmp_path):
    (tmp_path / "001_first.sql").write_text("SELECT 1;")
    (tmp_path / "0001_again.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="version 1 is taken by") as caught:
        load_migrations(tmp_path)
    assert "001_first" in str(caught.value) and "0001_again" in str(caught.value)


@pytest.mark.parametrize("name", ["1_short.sql", "001-dash.sql", "001_Upper.sql", "001_.sql"])
def test_given_a_malformed_file_name_when_loading_then_it_is_refused(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="migration files are named NNN_name.sql"):
        load_migrations(tmp_path)


def test_given_no_folder_when_loading_then_the_error_names_it(tmp_path):
    with pytest.raises(MigrationError, match="no migrations folder"):
        load_migrations(tmp_path / "missing")


def test_given_files_out_of_order_on_disk_when_loading_then_they_come_by_number(tmp_path):
    (tmp_path / "010_ten.sql").write_text("SELECT 10;")
    (tmp_path / "002_two.sql").write_text("SELECT 2;")
    assert [m.name for m in load_migrations(tmp_path)] == ["002_two", "010_ten"]


def test_given_the_schema_file_beside_the_migrations_when_loading_then_it_is_not_a_migration(
    tmp_path,
):
    (tmp_path / "001_first.sql").write_text("SELECT 1;")
    (tmp_path / SCHEMA_FILE).write_text("CREATE TABLE t (id int);")
    assert [m.name for m in load_migrations(tmp_path)] == ["001_first"]


def test_given_the_repository_then_it_holds_the_schema_file():
    assert (SQL_DIR / SCHEMA_FILE).is_file()
