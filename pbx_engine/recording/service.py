"""Recording calls through ARI: a snoop channel per file on the debtor's channel, recorded
with `POST /channels/{snoop}/record`, paused and resumed by name, deleted when expired.

Asterisk writes the files (its recordings folder, `NAME.wav`); the engine keeps a row per file
with its attempt, start, end and deletion date, and a row per pause.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from pbx_engine.ari import AriClient, AriError
from pbx_engine.ari.events import (
    ChannelDestroyed,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from pbx_engine.recording.policy import RecordingMode, RecordingPolicy, plan_recordings
from pbx_engine.refusals import Refused
from pbx_engine.roles import may_supervise
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.recordings import RecordingFile, RecordingPause
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)


class RecordingError(Refused):
    """A request about a recording that cannot be met (no recording on that call, paused)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _CallRecording:
    attempt_id: int
    names: list[str] = field(default_factory=list)
    snoops: list[str] = field(default_factory=list)
    paused: bool = False


class CallRecorder:
    def __init__(self, ari: AriClient, storage: Storage) -> None:
        self._ari = ari
        self._storage = storage
        self._calls: dict[str, _CallRecording] = {}  # debtor channel -> its recording
        self._tasks = OwnedTasks()

    async def close(self) -> None:
        await self._tasks.close()

    def recording(self, channel_id: str) -> list[str]:
        """Names of the files being recorded for this call (empty: not recorded)."""
        call = self._calls.get(channel_id)
        return list(call.names) if call else []

    def is_paused(self, channel_id: str) -> bool:
        call = self._calls.get(channel_id)
        return bool(call and call.paused)

    def start_soon(self, channel_id: str, policy: RecordingPolicy) -> None:
        """Start recording a call just bridged, without holding up whoever bridged it."""
        if policy.mode is RecordingMode.NONE:
            return
        self._tasks.spawn(self._start_for_attempt(channel_id, policy))

    async def _start_for_attempt(self, channel_id: str, policy: RecordingPolicy) -> None:
        attempt = await self._storage.attempts.get_attempt(channel_id)
        if attempt is None:
            log.error("recording.no_attempt", channel_id=channel_id)
            return
        await self.start(channel_id, attempt.id, policy)

    async def start(self, channel_id: str, attempt_id: int, policy: RecordingPolicy) -> list[str]:
        """Start recording the call on `channel_id` as the policy says; returns the names.

        A failure is logged and the call goes on unrecorded: losing a recording is bad, losing
        the debtor because of it is worse."""
        plans = plan_recordings(policy.mode, attempt_id)
        if not plans or channel_id in self._calls:
            return []
        call = self._calls[channel_id] = _CallRecording(attempt_id)
        for plan in plans:
            snoop_id = f"rec-{uuid.uuid4().hex[:16]}"
            events = self._ari.subscribe(snoop_id)
            try:
                await self._ari.snoop(
                    channel_id,
                    app=self._ari.app,
                    spy=plan.spy,
                    snoop_id=snoop_id,
                    app_args=["recording", plan.leg],
                )
                await events.wait_for((StasisStart, ChannelDestroyed), timeout=5)
                started_at = _now()
                await self._ari.record(
                    snoop_id, name=plan.name, format="wav", if_exists="overwrite"
                )
            except (AriError, TimeoutError) as error:
                events.close()
                await self._ari.hangup(snoop_id)
                log.error("recording.not_started", leg=plan.leg, error=str(error) or "timeout")
                continue
            call.names.append(plan.name)
            call.snoops.append(snoop_id)
            await self._storage.recordings.add_recording(
                attempt_id,
                plan.name,
                plan.leg,
                started_at=started_at,
                delete_after=policy.delete_after(started_at),
            )
            log.info("recording.started", recording=plan.name, leg=plan.leg)
            self._tasks.spawn(self._follow(channel_id, snoop_id, plan.name, events))
        if not call.names:
            self._calls.pop(channel_id, None)
        return list(call.names)

    async def _follow(self, channel_id: str, snoop_id: str, name: str, events) -> None:
        """The file is complete when its recording finishes or its snoop channel goes (the
        debtor hung up: the snoop goes with him)."""
        with events:
            async for event in events:
                if isinstance(event, RecordingFailed):
                    log.error("recording.failed", recording=name, cause=event.recording.cause)
                    break
                if isinstance(event, (RecordingFinished, StasisEnd, ChannelDestroyed)):
                    break
        await self._storage.recordings.finish_recording(name, _now())
        await self._ari.hangup(snoop_id)
        call = self._calls.get(channel_id)
        if call is not None and name in call.names:
            call.names.remove(name)
            if not call.names:
                self._calls.pop(channel_id, None)
                if call.paused:
                    await self._storage.recordings.record_recording_resume(call.attempt_id, _now())
        log.info("recording.finished", recording=name)

    async def pause(self, channel_id: str, agent_id: int | None) -> None:
        """Stop writing this call's audio until `resume` (the paused part is left out)."""
        call = self._require(channel_id)
        if call.paused:
            raise RecordingError("the recording is paused already")
        for name in call.names:
            await self._ari.pause_recording(name)
        call.paused = True
        await self._storage.recordings.record_recording_pause(call.attempt_id, agent_id, _now())
        log.info("recording.paused", recordings=call.names)

    async def resume(self, channel_id: str) -> None:
        call = self._require(channel_id)
        if not call.paused:
            raise RecordingError("the recording is not paused")
        for name in call.names:
            await self._ari.unpause_recording(name)
        call.paused = False
        await self._storage.recordings.record_recording_resume(call.attempt_id, _now())
        log.info("recording.resumed", recordings=call.names)

    def _require(self, channel_id: str) -> _CallRecording:
        call = self._calls.get(channel_id)
        if call is None or not call.names:
            raise RecordingError("this call is not being recorded")
        return call

    async def kept(self, attempt_id: int) -> tuple[list[RecordingFile], list[RecordingPause]]:
        """The files of a call and the pauses in them (the caller checked who may see it)."""
        recordings = await self._storage.recordings.recordings_of_attempt(attempt_id)
        pauses = await self._storage.recordings.recording_pauses(attempt_id)
        return recordings, pauses

    async def stored_file(self, viewer: AgentRow, name: str) -> bytes:
        """The audio of a recording of the viewer's own call, or of any call for a supervisor:
        404 for another's or an unknown one, 410 once its retention has deleted it."""
        row = await self._storage.recordings.recording_by_name(name)
        if row is None or (not may_supervise(viewer.role) and row.agent_id != viewer.id):
            raise RecordingError("no such recording", 404)
        if row.deleted_at is not None:
            raise RecordingError("deleted at the end of its retention period", 410)
        return await self._ari.get_stored_recording_file(row.name)

    async def purge_expired(self, now: datetime | None = None) -> list[str]:
        """Delete every recording past its retention from Asterisk, and mark it deleted; a file
        that is gone already counts as deleted. Returns the names."""
        now = now or _now()
        purged = []
        for name in await self._storage.recordings.expired_recordings(now):
            try:
                await self._ari.delete_stored_recording(name)
            except AriError as error:
                log.error("recording.not_deleted", recording=name, error=str(error))
                continue
            await self._storage.recordings.mark_recording_deleted(name, now)
            purged.append(name)
        if purged:
            log.info("recording.purged", count=len(purged))
        return purged
