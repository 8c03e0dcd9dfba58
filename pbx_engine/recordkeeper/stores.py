"""The stores of a call's life, with their writes kept through database outages.

`kept_storage` gives the dialer, the agent connector, the agent service, the recorder and
supervision a `Storage` whose attempt, agent-state, callback, recording and supervision-audit
writes go through the record keeper: the same methods, so they need no change. Creating an
outbound attempt is the exception: a call that cannot be written down must not be placed, so it
raises `NotRecording` instead of being owed (an inbound caller is on the line already: his
attempt is owed). Reads are untouched.
"""

from __future__ import annotations

import copy
from datetime import datetime
from functools import partial

import asyncpg

from pbx_engine.recordkeeper.journal import REPLAYABLE, Replay
from pbx_engine.recordkeeper.keeper import NotRecording, RecordKeeper
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.storage import Storage
from pbx_engine.storage.agents import AgentStore
from pbx_engine.storage.attempts import AttemptStore
from pbx_engine.storage.callbacks import CallbackStore
from pbx_engine.storage.recordings import RecordingStore
from pbx_engine.storage.supervision import SupervisionStore


async def _kept(
    keeper: RecordKeeper,
    subject: str,
    store: str,
    write,
    owner,
    *args,
    final: bool = False,
    **kwargs,
) -> bool:
    """`write` (a plain store method) made now on `owner`, or owed and journalled as
    "store.method" with its arguments. True: made now."""
    bound = partial(write, owner, *args, **kwargs)
    replay = Replay(f"{store}.{write.__name__}", args, kwargs)
    return await keeper.keep(subject, write.__name__, bound, final=final, replay=replay)


class KeptAttemptStore(AttemptStore):
    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper, engine: str | None) -> None:
        super().__init__(pool, engine)
        self.keeper = keeper

    async def create_attempt(self, **fields) -> int | None:  # type: ignore[override]
        if fields.get("direction") == "inbound":
            return await self._create_owed(fields)
        # Checked again here: the gate was open when the call was asked for, maybe not now.
        self.keeper.require_writable()
        try:
            return await super().create_attempt(**fields)
        except Exception as error:
            if not is_unreachable(error):
                raise
            self.keeper.lost(error)
            raise NotRecording(f"the attempt could not be written: {error}") from error

    async def _create_owed(self, fields: dict) -> int | None:
        """A caller is on the line whether or not his call can be written down: it is taken,
        and its record owed (None) while the database is away."""
        made: list[int] = []

        async def create() -> None:
            made.append(await AttemptStore.create_attempt(self, **fields))

        replay = Replay("attempts.create_attempt", (), dict(fields))
        await self.keeper.keep(
            fields["channel_id"], "create_attempt", create, final=True, replay=replay
        )
        return made[0] if made else None

    async def record_inbound_route(
        self, channel_id: str, route: str, queue_seconds: float | None
    ) -> None:
        await self._keep(channel_id, AttemptStore.record_inbound_route, route, queue_seconds)

    async def _keep(self, channel_id: str, write, *args, final: bool = False, **kwargs) -> bool:
        return await _kept(
            self.keeper,
            channel_id,
            "attempts",
            write,
            self,
            channel_id,
            *args,
            final=final,
            **kwargs,
        )

    async def mark_attempt_originated(self, channel_id: str, at: datetime) -> None:
        await self._keep(channel_id, AttemptStore.mark_attempt_originated, at)

    async def mark_attempt_ringing(self, channel_id: str, at: datetime) -> None:
        await self._keep(channel_id, AttemptStore.mark_attempt_ringing, at)

    async def mark_attempt_answered(self, channel_id: str, at: datetime) -> None:
        await self._keep(channel_id, AttemptStore.mark_attempt_answered, at)

    async def record_amd(self, channel_id: str, status: str, cause: str, at: datetime) -> None:
        await self._keep(channel_id, AttemptStore.record_amd, status, cause, at)

    async def mark_attempt_bridged(self, channel_id: str, agent_id: int, at: datetime) -> None:
        await self._keep(channel_id, AttemptStore.mark_attempt_bridged, agent_id, at)

    async def mark_attempt_abandoned(self, channel_id: str) -> None:
        await self._keep(channel_id, AttemptStore.mark_attempt_abandoned, final=True)

    async def record_message(self, channel_id: str, started: datetime, ended: datetime) -> None:
        await self._keep(channel_id, AttemptStore.record_message, started, ended)

    async def finish_attempt(
        self,
        channel_id: str,
        *,
        ended_at: datetime,
        hangup_cause: int | None,
        hangup_cause_text: str | None,
        outcome: str,
        number_gone: str | None = None,
    ) -> bool:
        """Settle an attempt once; owed (False) while the database cannot be reached."""
        changed: list[bool] = []

        async def settle() -> None:
            changed.append(
                await AttemptStore.finish_attempt(
                    self,
                    channel_id,
                    ended_at=ended_at,
                    hangup_cause=hangup_cause,
                    hangup_cause_text=hangup_cause_text,
                    outcome=outcome,
                    number_gone=number_gone,
                )
            )

        replay = Replay(
            "attempts.finish_attempt",
            (channel_id,),
            {
                "ended_at": ended_at,
                "hangup_cause": hangup_cause,
                "hangup_cause_text": hangup_cause_text,
                "outcome": outcome,
                "number_gone": number_gone,
            },
        )
        await self.keeper.keep(channel_id, "finish_attempt", settle, final=True, replay=replay)
        return bool(changed and changed[0])


class KeptAgentStore(AgentStore):
    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper) -> None:
        super().__init__(pool)
        self.keeper = keeper

    async def record_agent_state(
        self,
        agent_id: int,
        state: str,
        at: datetime,
        *,
        reason: str | None = None,
        channel_id: str | None = None,
    ) -> None:
        write = partial(
            AgentStore.record_agent_state,
            self,
            agent_id,
            state,
            at,
            reason=reason,
            channel_id=channel_id,
        )
        replay = Replay(
            "agents.record_agent_state",
            (agent_id, state, at),
            {"reason": reason, "channel_id": channel_id},
        )
        await self.keeper.keep(f"agent {agent_id}", "record_agent_state", write, replay=replay)


class KeptCallbackStore(CallbackStore):
    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper) -> None:
        super().__init__(pool)
        self.keeper = keeper

    async def create_callback(self, **fields) -> int | None:  # type: ignore[override]
        """The callback an abandoned debtor was promised; None while it is owed."""
        made: list[int] = []

        async def create() -> None:
            made.append(await CallbackStore.create_callback(self, **fields))

        subject = fields.get("channel_id") or fields.get("e164") or "callback"
        replay = Replay("callbacks.create_callback", (), dict(fields))
        await self.keeper.keep(str(subject), "create_callback", create, final=True, replay=replay)
        return made[0] if made else None

    async def callback_dialled(self, callback_id: int, channel_id: str) -> None:
        write = partial(CallbackStore.callback_dialled, self, callback_id, channel_id)
        replay = Replay("callbacks.callback_dialled", (callback_id, channel_id))
        await self.keeper.keep(channel_id, "callback_dialled", write, replay=replay)


class KeptRecordingStore(RecordingStore):
    """A call's recording rows (its files, pauses, failures): owed like its attempt's, and
    made after it (they find the attempt by its channel)."""

    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper) -> None:
        super().__init__(pool)
        self.keeper = keeper

    async def add_recording(  # type: ignore[override]
        self,
        channel_id: str,
        name: str,
        leg: str,
        *,
        started_at: datetime,
        delete_after: datetime,
        format: str = "wav",
    ) -> None:
        await _kept(
            self.keeper,
            channel_id,
            "recordings",
            RecordingStore.add_recording,
            self,
            channel_id,
            name,
            leg,
            started_at=started_at,
            delete_after=delete_after,
            format=format,
        )

    async def finish_recording(self, name: str, ended_at: datetime) -> None:
        await _kept(
            self.keeper, name, "recordings", RecordingStore.finish_recording, self, name, ended_at
        )

    async def record_recording_pause(
        self, channel_id: str, agent_id: int | None, at: datetime
    ) -> None:
        write = RecordingStore.record_recording_pause
        await _kept(self.keeper, channel_id, "recordings", write, self, channel_id, agent_id, at)

    async def record_recording_resume(self, channel_id: str, at: datetime) -> None:
        write = RecordingStore.record_recording_resume
        await _kept(self.keeper, channel_id, "recordings", write, self, channel_id, at)

    async def add_recording_failure(
        self, channel_id: str, leg: str, reason: str, detail: str, at: datetime
    ) -> None:
        write = RecordingStore.add_recording_failure
        await _kept(
            self.keeper, channel_id, "recordings", write, self, channel_id, leg, reason, detail, at
        )


class KeptSupervisionStore(SupervisionStore):
    """Who listened to whom, and supervisors' actions: an audit a database outage must not
    lose (a listen ended by the call's hangup is written while nobody waits on it)."""

    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper) -> None:
        super().__init__(pool)
        self.keeper = keeper

    async def log_supervision(
        self,
        supervisor_id: int,
        agent_id: int,
        channel_id: str | None,
        action: str,
        at: datetime,
    ) -> None:
        write = SupervisionStore.log_supervision
        args = (supervisor_id, agent_id, channel_id, action, at)
        await _kept(self.keeper, f"agent {agent_id}", "supervision", write, self, *args)

    async def audit_supervisor_action(
        self, supervisor_id: int, action: str, target: str, at: datetime
    ) -> None:
        write = SupervisionStore.audit_supervisor_action
        args = (supervisor_id, action, target, at)
        await _kept(self.keeper, f"agent {supervisor_id}", "supervision", write, self, *args)


def kept_storage(storage: Storage, keeper: RecordKeeper) -> Storage:
    """The same storage, its call-life writes kept through outages (a shallow copy: one pool)."""
    kept = copy.copy(storage)
    kept.attempts = KeptAttemptStore(storage.pool, keeper, storage.engine)
    kept.agents = KeptAgentStore(storage.pool, keeper)
    kept.callbacks = KeptCallbackStore(storage.pool, keeper)
    kept.recordings = KeptRecordingStore(storage.pool, keeper)
    kept.supervision = KeptSupervisionStore(storage.pool, keeper)
    return kept


def replayable_write(storage: Storage, method: str):
    """The plain store method a journal entry names ("attempts.finish_attempt"): made at once,
    not owed again through the keeper."""
    if method not in REPLAYABLE:
        raise ValueError(f"{method} is not a write the journal may replay")
    store, name = method.split(".", 1)
    return getattr(getattr(storage, store), name)
