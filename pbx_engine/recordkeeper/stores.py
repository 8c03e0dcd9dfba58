"""The stores of a call's life, with their writes kept through database outages.

`kept_storage` gives the dialer, the agent connector and the agent service a `Storage` whose
attempt, agent-state and callback writes go through the record keeper: the same methods, so
they need no change. Creating an outbound attempt is the exception: a call that cannot be written
down must not be placed, so it raises `NotRecording` instead of being owed (an inbound caller is
on the line already: his attempt is owed). Reads are untouched.
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


class KeptAttemptStore(AttemptStore):
    def __init__(self, pool: asyncpg.Pool, keeper: RecordKeeper) -> None:
        super().__init__(pool)
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
        bound = partial(write, self, channel_id, *args, **kwargs)
        replay = Replay(f"attempts.{write.__name__}", (channel_id, *args), kwargs)
        return await self.keeper.keep(channel_id, write.__name__, bound, final=final, replay=replay)

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


def kept_storage(storage: Storage, keeper: RecordKeeper) -> Storage:
    """The same storage, its call-life writes kept through outages (a shallow copy: one pool)."""
    kept = copy.copy(storage)
    kept.attempts = KeptAttemptStore(storage.pool, keeper)
    kept.agents = KeptAgentStore(storage.pool, keeper)
    kept.callbacks = KeptCallbackStore(storage.pool, keeper)
    return kept


def replayable_write(storage: Storage, method: str):
    """The plain store method a journal entry names ("attempts.finish_attempt"): made at once,
    not owed again through the keeper."""
    if method not in REPLAYABLE:
        raise ValueError(f"{method} is not a write the journal may replay")
    store, name = method.split(".", 1)
    return getattr(getattr(storage, store), name)
