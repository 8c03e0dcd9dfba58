"""The owed writes on disk: what is written, what comes back after a crash (a cut last line
included), what is never replayed, and the keeper making a previous run's debts first."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from pbx_engine.recordkeeper import RecordKeeper
from pbx_engine.recordkeeper.journal import (
    JournalError,
    OwedJournal,
    Replay,
    decode,
    encode,
    pending_entries,
)
from tests.unit.test_record_keeper import FakeDatabase, now
from tests.waiting import eventually

AT = datetime(2026, 12, 3, 9, 30, 1, 250000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value", [None, True, 3, 2.5, "out-1", AT, Decimal("10.05"), [AT, "x", [1, None]]]
)
def test_given_a_writes_argument_when_encoded_and_decoded_then_it_comes_back_the_same(value):
    assert decode(encode(value)) == value


def test_given_a_value_json_cannot_carry_then_it_is_refused_by_name():
    with pytest.raises(JournalError, match="cannot journal a set"):
        encode({1, 2})


def test_given_owed_writes_some_made_then_only_the_rest_come_back_in_order(tmp_path: Path):
    journal = OwedJournal(tmp_path / "owed.jsonl")
    first = journal.append("out-1", False, Replay("attempts.mark_attempt_ringing", ("out-1", AT)))
    journal.append(
        "out-1",
        True,
        Replay("attempts.finish_attempt", ("out-1",), {"outcome": "human", "ended_at": AT}),
    )  # noqa: E501
    journal.append("agent 3", False, Replay("agents.record_agent_state", (3, "ready", AT)))
    journal.done(first)
    pending = OwedJournal(tmp_path / "owed.jsonl").pending()
    assert [(e.seq, e.replay.method) for e in pending] == [
        (2, "attempts.finish_attempt"),
        (3, "agents.record_agent_state"),
    ]
    assert pending[0].final and pending[0].replay.kwargs == {"outcome": "human", "ended_at": AT}
    journal.clear()
    assert OwedJournal(tmp_path / "owed.jsonl").pending() == []


def test_given_a_line_cut_by_a_crash_then_the_others_come_back_and_the_cut_one_is_named():
    lines = [
        '{"seq":1,"subject":"out-1","final":false,"method":"attempts.mark_attempt_ringing",'
        '"args":["out-1",{"$datetime":"2026-12-03T09:30:01+00:00"}],"kwargs":{}}',
        '{"seq":2,"subject":"out-1","final":true,"meth',
    ]
    entries, problems = pending_entries(lines)
    assert [e.seq for e in entries] == [1]
    assert len(problems) == 1 and problems[0].startswith("line 2:")


def test_given_a_method_that_is_no_call_write_then_it_is_never_written_nor_replayed(
    tmp_path: Path,
):
    journal = OwedJournal(tmp_path / "owed.jsonl")
    with pytest.raises(JournalError, match="not a write the journal may replay"):
        journal.append("x", False, Replay("agents.delete_agent", ("anna",)))
    forged = '{"seq":1,"subject":"x","final":false,"method":"pool.execute","args":[],"kwargs":{}}'
    entries, problems = pending_entries([forged])
    assert entries == [] and "not a write the journal may replay" in problems[0]


def test_given_a_folder_the_engine_cannot_write_then_the_error_says_so(tmp_path: Path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(JournalError, match="state_dir: cannot write"):
        OwedJournal(blocked / "owed.jsonl").check_writable()


async def test_given_writes_owed_when_the_engine_stops_then_the_next_one_makes_them_first(
    tmp_path: Path,
):
    database = FakeDatabase()
    rows = database.rows
    path = tmp_path / "owed.jsonl"

    def write(row: str):
        return database.write(row)

    async with RecordKeeper(database.probe, probe_interval=0.01, journal=OwedJournal(path)) as k:
        database.up = False
        await k.keep(
            "out-1",
            "ringing",
            write("ringing"),
            replay=Replay("attempts.mark_attempt_ringing", ("out-1", AT)),
        )  # noqa: E501
        await k.keep(
            "out-1",
            "end",
            write("end"),
            final=True,
            replay=Replay("attempts.finish_attempt", ("out-1",), {"outcome": "human"}),
        )  # noqa: E501
    assert rows == []  # stopped during the outage: nothing made, both on disk

    database.up = True
    made: list[tuple] = []

    def resolve(method: str):
        async def run(*args, **kwargs):
            made.append((method, args, kwargs))

        return run

    async with RecordKeeper(database.probe, probe_interval=0.01, journal=OwedJournal(path)) as k:
        await k.replay_journal(resolve)
        await eventually(now(lambda: k.writable), timeout=2, what="writable")
        assert k.health().written_late == 2
    assert made == [
        ("attempts.mark_attempt_ringing", ("out-1", AT), {}),
        ("attempts.finish_attempt", ("out-1",), {"outcome": "human"}),
    ]
    assert OwedJournal(path).pending() == []


async def test_given_owed_writes_made_late_then_the_journal_is_emptied(tmp_path: Path):
    database = FakeDatabase()
    path = tmp_path / "owed.jsonl"
    async with RecordKeeper(database.probe, probe_interval=0.01, journal=OwedJournal(path)) as k:
        database.up = False
        await k.keep(
            "out-1",
            "ringing",
            database.write("ringing"),
            replay=Replay("attempts.mark_attempt_ringing", ("out-1", AT)),
        )  # noqa: E501
        assert len(OwedJournal(path).pending()) == 1
        database.up = True
        await eventually(now(lambda: k.writable), timeout=2, what="the owed write made")
    assert database.rows == ["ringing"]
    assert path.read_text() == ""


def test_given_every_write_the_stores_keep_then_the_journal_may_replay_it_by_its_plain_method():
    """A kept write owed at a crash is made at the next start by the plain store method of the
    same name: a write kept but not replayable would be lost with the process."""
    import inspect

    from pbx_engine.recordkeeper import stores
    from pbx_engine.recordkeeper.journal import REPLAYABLE
    from pbx_engine.storage import Storage

    plain = Storage(None)  # type: ignore[arg-type]  # no query is run
    kept = stores.kept_storage(plain, RecordKeeper(lambda: None))  # type: ignore[arg-type]
    names = set()
    for attribute, store in vars(kept).items():
        if store is getattr(plain, attribute, None) or attribute == "pool":
            continue
        for name, member in vars(type(store)).items():
            if inspect.iscoroutinefunction(member) and not name.startswith("_"):
                names.add(f"{attribute}.{name}")
    assert {"recordings.add_recording", "supervision.log_supervision"} <= names
    assert names == set(REPLAYABLE)
    for name in names:
        store, method = name.split(".")
        resolved = stores.replayable_write(plain, name)
        assert resolved.__func__ is getattr(type(getattr(plain, store)), method)
