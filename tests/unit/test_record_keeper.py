"""The record keeper: what counts as an outage, the bounded outbox, and the keeper owing writes
while the database is away and making them in order once it is back (fake database)."""

import asyncio

import asyncpg
import pytest

from pbx_engine.recordkeeper import NotRecording, RecordKeeper
from pbx_engine.recordkeeper.outbox import Outbox, OwedWrite, is_unreachable
from tests.integration.waiting import eventually


def now(condition):
    """A plain condition as the awaitable probe `eventually` polls."""

    async def probe() -> bool:
        return condition()

    return probe


async def _nothing() -> None:
    return None


def owed(subject: str, *, final: bool = False) -> OwedWrite:
    return OwedWrite(subject, "write", _nothing, 0.0, final)


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-way"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.InterfaceError("cannot call Connection.execute(): connection is closed"), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.InterfaceError("another operation is in progress"), False),
        (ValueError("bad"), False),
    ],
)
def test_an_unreachable_database_is_told_from_a_wrong_write(error, unreachable):
    assert is_unreachable(error) is unreachable


def test_given_a_full_outbox_then_a_final_state_pushes_out_the_oldest_step_and_a_step_waits():
    outbox = Outbox(capacity=3)
    first_end, ringing, answered = owed("a", final=True), owed("a"), owed("b")
    for write in (first_end, ringing, answered):
        assert outbox.add(write) is None
    later_step = owed("c")
    assert outbox.add(later_step) is later_step  # nothing gives way to a step
    end = owed("b", final=True)
    assert outbox.add(end) is ringing
    assert [outbox.first()] == [first_end] and len(outbox) == 3
    assert outbox.dropped == 2


def test_given_an_outbox_of_final_states_only_then_a_new_one_is_refused_not_an_old_one():
    outbox = Outbox(capacity=1)
    kept = owed("a", final=True)
    outbox.add(kept)
    refused = owed("b", final=True)
    assert outbox.add(refused) is refused
    assert outbox.first() is kept


class FakeDatabase:
    def __init__(self) -> None:
        self.up = True
        self.rows: list[str] = []

    async def probe(self) -> bool:
        return self.up

    def write(self, row: str):
        async def run() -> None:
            if not self.up:
                raise ConnectionRefusedError(111, "Connection refused")
            self.rows.append(row)

        return run


async def test_given_the_database_goes_away_then_writes_are_owed_calls_refused_and_all_made_after():
    database = FakeDatabase()
    async with RecordKeeper(database.probe, probe_interval=0.01) as keeper:
        assert await keeper.keep("out-1", "ringing", database.write("ringing 1"))
        database.up = False
        assert not await keeper.keep("out-1", "answered", database.write("answered 1"))
        assert not keeper.writable
        with pytest.raises(NotRecording):
            keeper.require_writable()
        # Owed writes go first: a later one waits behind them even if it could be made.
        assert not await keeper.keep("out-1", "end", database.write("end 1"), final=True)
        assert keeper.health().owed == 2
        database.up = True
        await eventually(now(lambda: keeper.writable), timeout=2, what="the owed writes made")
    assert database.rows == ["ringing 1", "answered 1", "end 1"]
    health = keeper.health()
    assert (health.outages, health.written_late, health.given_up, health.owed) == (1, 2, 0, 0)
    assert health.unwritable_seconds > 0


async def test_given_an_idle_engine_then_the_probe_notices_the_outage_and_the_return():
    database = FakeDatabase()
    async with RecordKeeper(database.probe, probe_interval=0.01) as keeper:
        database.up = False
        await eventually(now(lambda: not keeper.writable), timeout=2, what="the outage noticed")
        database.up = True
        await eventually(now(lambda: keeper.writable), timeout=2, what="the return noticed")


async def test_given_an_owed_write_the_database_refuses_then_it_is_given_up_not_retried_forever():
    database = FakeDatabase()
    calls = 0

    async def wrong() -> None:
        nonlocal calls
        calls += 1
        if not database.up:
            raise ConnectionRefusedError(111, "Connection refused")
        raise asyncpg.exceptions.UniqueViolationError("duplicate key")

    async with RecordKeeper(database.probe, probe_interval=0.01) as keeper:
        database.up = False
        await keeper.keep("out-1", "create", wrong)
        await keeper.keep("out-1", "end", database.write("end 1"), final=True)
        database.up = True
        await eventually(now(lambda: keeper.writable), timeout=2, what="the outbox emptied")
    assert database.rows == ["end 1"]
    assert keeper.health().given_up == 1
    assert calls == 2


async def test_given_a_write_that_is_wrong_while_the_database_is_up_then_its_error_is_raised():
    async def wrong() -> None:
        raise asyncpg.exceptions.UniqueViolationError("duplicate key")

    database = FakeDatabase()
    async with RecordKeeper(database.probe) as keeper:
        with pytest.raises(asyncpg.exceptions.UniqueViolationError):
            await keeper.keep("out-1", "create", wrong)
        assert keeper.writable
        await asyncio.sleep(0)
