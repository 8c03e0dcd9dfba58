"""The record keeper: no call placed that cannot be written down, no record lost to an outage.

A call that cannot be written down is a compliance breach: the attempt caps, retry spacing and
abandon rates are counted from the records. So the dialer asks `writable` before it places a
call, and the writes of calls already up (their ringing, answer, verdict, end, the agents'
states) go through `keep`: made at once while the database answers, else owed in a bounded
outbox and made, in their order, once it answers again. Until the outbox is empty the keeper is
not writable, so no new call is placed while older ones are still unwritten.

It notices an outage from a failed write, or from its probe (a `SELECT true` every
`probe_interval` seconds, so an idle engine notices too), and probes at that pace until the
database is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from pbx_engine.recordkeeper.journal import JournalError, OwedJournal, Replay
from pbx_engine.recordkeeper.outbox import Outbox, OwedWrite, is_unreachable
from pbx_engine.tasks import OwnedTasks, wait_set

log = structlog.get_logger(__name__)


class NotRecording(Exception):
    """The database cannot be written to: no call may be placed."""


@dataclass(frozen=True)
class RecordsHealth:
    """What the outages cost so far, for logs, health checks and measurements."""

    writable: bool
    owed: int  # writes waiting for the database
    written_late: int  # writes made after an outage
    given_up: int  # refused by the database when made late, or pushed out of a full outbox
    outages: int
    unwritable_seconds: float  # in total, the current outage included


class RecordKeeper:
    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        *,
        capacity: int = 10_000,
        probe_interval: float = 1.0,
        probe_timeout: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        journal: OwedJournal | None = None,
    ) -> None:
        self._probe = probe
        self._journal = journal
        self._outbox = Outbox(capacity)
        self._interval = probe_interval
        self._probe_timeout = probe_timeout
        self._clock = clock
        self._reachable = True
        self._trouble = asyncio.Event()
        self._tasks = OwnedTasks()
        self._written_late = 0
        self._refused_late = 0
        self._outages = 0
        self._lost_at: float | None = None
        self._unwritable_seconds = 0.0

    async def __aenter__(self) -> RecordKeeper:
        self._tasks.spawn(self._watch(), name="record-keeper")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._tasks.close()
        if len(self._outbox):
            # One last pass: the calls are drained, whatever is still owed goes now or never.
            self._reachable = await self._probe_once()
            if self._reachable:
                await self._flush()
        if len(self._outbox):
            log.error("records.owed_at_exit", owed=len(self._outbox))

    @property
    def writable(self) -> bool:
        return self._reachable and not len(self._outbox)

    def health(self) -> RecordsHealth:
        current = self._clock() - self._lost_at if self._lost_at is not None else 0.0
        return RecordsHealth(
            writable=self.writable,
            owed=len(self._outbox),
            written_late=self._written_late,
            given_up=self._refused_late + self._outbox.dropped,
            outages=self._outages,
            unwritable_seconds=self._unwritable_seconds + current,
        )

    def require_writable(self) -> None:
        if not self.writable:
            raise NotRecording("the database cannot be written to: no call may be placed")

    async def keep(
        self,
        subject: str,
        what: str,
        write: Callable[[], Awaitable[object]],
        *,
        final: bool = False,
        replay: Replay | None = None,
    ) -> bool:
        """Make the write now, or owe it when the database cannot be reached (or writes are
        already owed: they go first). True: written now. `replay`: the write as the journal
        on disk can keep it (without it, or without a journal, it is owed in memory only)."""
        if self.writable:
            try:
                await write()
                return True
            except Exception as error:
                if not is_unreachable(error):
                    raise
                self.lost(error)
        seq = self._journalled(subject, final, replay)
        self._owe(OwedWrite(subject, what, write, self._clock(), final, seq))
        return False

    def _journalled(self, subject: str, final: bool, replay: Replay | None) -> int | None:
        if self._journal is None or replay is None:
            return None
        try:
            return self._journal.append(subject, final, replay)
        except (JournalError, OSError) as error:
            log.error("records.write_not_journalled", subject=subject, error=str(error))
            return None

    def _settled(self, write: OwedWrite) -> None:
        """An owed write was made, or given up for good: the journal need not keep it."""
        if self._journal is None or write.seq is None:
            return
        try:
            self._journal.done(write.seq)
            if not len(self._outbox):
                self._journal.clear()
        except OSError as error:
            log.error("records.journal_unwritable", error=str(error))

    async def replay_journal(self, resolve: Callable[[str], Callable[..., Awaitable[object]]]):
        """At start, before any call is taken: make the writes a previous run owed and never
        made (it crashed, or stopped, during an outage), in their order. Those the database
        cannot take now stay owed; those it refuses are given up, logged."""
        if self._journal is None:
            return
        entries = self._journal.pending()
        if not entries:
            self._journal.clear()
            return
        log.warning("records.journal_replaying", owed=len(entries))
        for entry in entries:
            method = resolve(entry.replay.method)
            run = _bound(method, entry.replay)
            if not self.writable:
                self._owe(
                    OwedWrite(
                        entry.subject,
                        entry.replay.method,
                        run,
                        self._clock(),
                        entry.final,
                        entry.seq,
                    )
                )
                continue
            try:
                await run()
                self._written_late += 1
            except Exception as error:
                if is_unreachable(error):
                    self.lost(error)
                    self._owe(
                        OwedWrite(
                            entry.subject,
                            entry.replay.method,
                            run,
                            self._clock(),
                            entry.final,
                            entry.seq,
                        )
                    )
                    continue
                self._refused_late += 1
                log.error(
                    "records.owed_write_refused",
                    subject=entry.subject,
                    what=entry.replay.method,
                    error=str(error),
                )
            self._journal.done(entry.seq)
        if not len(self._outbox):
            self._journal.clear()
        log.info("records.journal_replayed", written=self._written_late, owed=len(self._outbox))

    def lost(self, error: BaseException | str) -> None:
        """The database did not answer: stop placing calls until it does."""
        if self._reachable:
            self._reachable = False
            self._outages += 1
            self._lost_at = self._clock()
            log.error("records.unreachable", error=str(error) or type(error).__name__)
        self._trouble.set()

    def _owe(self, write: OwedWrite) -> None:
        given_up = self._outbox.add(write)
        log.warning("records.write_owed", subject=write.subject, what=write.what)
        if given_up is not None:
            log.error("records.write_given_up", subject=given_up.subject, what=given_up.what)
            self._settled(given_up)
        self._trouble.set()

    async def _watch(self) -> None:
        while True:
            if self.writable:
                # Nothing else notices a database gone while no call writes.
                self._trouble.clear()
                if not await wait_set(self._trouble, self._interval):
                    if not await self._probe_once():
                        self.lost("the probe got no answer")
                continue
            if not self._reachable:
                if not await self._probe_once():
                    await asyncio.sleep(self._interval)
                    continue
                self._reachable = True
            await self._flush()

    async def _probe_once(self) -> bool:
        try:
            async with asyncio.timeout(self._probe_timeout):
                return await self._probe()
        except Exception:
            return False

    async def _flush(self) -> None:
        """Make the owed writes in order; stop at the first the database does not take."""
        while (write := self._outbox.first()) is not None:
            try:
                await write.run()
            except Exception as error:
                if is_unreachable(error):
                    self.lost(error)
                    return
                # Wrong, not late: made again it would fail again.
                self._refused_late += 1
                log.error(
                    "records.owed_write_refused",
                    subject=write.subject,
                    what=write.what,
                    error=str(error),
                )
            else:
                self._written_late += 1
            self._outbox.done(write)
            self._settled(write)
        if self._lost_at is not None:
            seconds = self._clock() - self._lost_at
            self._unwritable_seconds += seconds
            self._lost_at = None
            log.info(
                "records.writable_again",
                unwritable_seconds=round(seconds, 2),
                written_late=self._written_late,
            )


def _bound(method: Callable[..., Awaitable[object]], replay: Replay):
    async def run() -> object:
        return await method(*replay.args, **replay.kwargs)

    return run
