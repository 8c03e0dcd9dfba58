"""Recording calls through ARI: a snoop channel per file on the debtor's channel, recorded
with `POST /channels/{snoop}/record`, paused and resumed by name, deleted when expired.

Asterisk writes the files (its recordings folder, `NAME.wav`); the engine keeps a row per file
with its attempt, start, end and deletion date, and a row per pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from pbx_engine.ari import AriClient, AriError, AriUnavailable, ChannelGone
from pbx_engine.ari.events import (
    ChannelDestroyed,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from pbx_engine.ari.stream import Subscription
from pbx_engine.metrics.series import RecordingMetrics
from pbx_engine.recording.health import (
    FOLDER_PROBLEM,
    FailureReason,
    RecordingHealth,
    start_failure,
)
from pbx_engine.recording.policy import (
    PlannedRecording,
    RecordingMode,
    RecordingPolicy,
    plan_recordings,
)
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.refusals import Refused
from pbx_engine.roles import may_supervise
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.recordings import RecordingFailure, RecordingFile, RecordingPause
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)


class RecordingError(Refused):
    """A request about a recording that cannot be met (no recording on that call, paused)."""


# The check takes a few milliseconds on a healthy Asterisk; it runs at start, before calls.
FOLDER_CHECK_TIMEOUT = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _CallRecording:
    channel_id: str  # the debtor's: his call's rows are written by it
    attempt_id: int | None  # None: taken while the database was away, its attempt owed
    campaign: str | None = None  # its name, for the metrics
    names: list[str] = field(default_factory=list)
    snoops: list[str] = field(default_factory=list)
    failures: list[FailureReason] = field(default_factory=list)
    paused: bool = False


# (channel id, what the desk shows): see `desk_state`
RecordingListener = Callable[[str, dict[str, Any]], None]


def desk_state(names: list[str], failures: list[FailureReason]) -> dict[str, Any]:
    """What the agent's desk shows of his call's recording: recording or not, and why not
    (a separate-legs call with one leg lost is still recording, and says which is missing)."""
    return {
        "state": "recording" if names else "not_recording",
        "reason": failures[-1].text if failures else None,
    }


class CallRecorder:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        *,
        metrics: RecordingMetrics | None = None,
        health: RecordingHealth | None = None,
    ) -> None:
        self._ari = ari
        self._storage = storage
        self._metrics = metrics
        self.health = health or RecordingHealth()  # for `/ready`
        self._listeners: list[RecordingListener] = []
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

    def on_change(self, listener: RecordingListener) -> None:
        """Told (channel id, what the desk shows) when a call's recording starts or fails."""
        self._listeners.append(listener)

    def start_soon(
        self, channel_id: str, policy: RecordingPolicy, campaign: str | None = None
    ) -> None:
        """Start recording a call just bridged, without holding up whoever bridged it."""
        if policy.mode is RecordingMode.NONE:
            return
        self._tasks.spawn(self._start_for_attempt(channel_id, policy, campaign))

    async def _start_for_attempt(
        self, channel_id: str, policy: RecordingPolicy, campaign: str | None
    ) -> None:
        try:
            attempt = await self._storage.attempts.get_attempt(channel_id)
        except Exception as error:
            if not is_unreachable(error):
                raise
            # Taken during a database outage: recorded all the same, its rows owed.
            await self.start(channel_id, None, policy, campaign)
            return
        if attempt is None:
            log.error("recording.no_attempt", channel_id=channel_id)
            return
        await self.start(channel_id, attempt.id, policy, campaign)

    async def start(
        self,
        channel_id: str,
        attempt_id: int | None,
        policy: RecordingPolicy,
        campaign: str | None = None,
    ) -> list[str]:
        """Start recording the call on `channel_id` as the policy says; returns the names.

        A failure is written on the call's record, counted, told to the desk, and the call
        goes on unrecorded: losing a recording is bad, losing the debtor because of it is
        worse."""
        plans = plan_recordings(policy.mode, channel_id if attempt_id is None else attempt_id)
        if not plans or channel_id in self._calls:
            return []
        call = self._calls[channel_id] = _CallRecording(channel_id, attempt_id, campaign)
        for plan in plans:
            await self._start_leg(channel_id, call, plan, policy)
        if call.names or call.failures:
            self.health.tried(_now(), recorded=not call.failures)
            self._tell(channel_id, call)
        if not call.names:
            self._calls.pop(channel_id, None)
        return list(call.names)

    async def _start_leg(
        self, channel_id: str, call: _CallRecording, plan: PlannedRecording, policy: RecordingPolicy
    ) -> None:
        snoop_id = f"rec-{uuid.uuid4().hex[:16]}"
        events = self._ari.subscribe(snoop_id)
        step: Literal["snoop", "record"] = "snoop"
        try:
            await self._ari.snoop(
                channel_id,
                app=self._ari.app,
                spy=plan.spy,
                snoop_id=snoop_id,
                app_args=["recording", plan.leg],
            )
            await events.wait_for((StasisStart, ChannelDestroyed), timeout=5)
            step = "record"
            started_at = _now()
            await self._ari.record(snoop_id, name=plan.name, format="wav", if_exists="overwrite")
        except (AriError, TimeoutError) as error:
            events.close()
            await self._ari.hangup(snoop_id)
            status = error.status if isinstance(error, AriError) else None
            reason = start_failure(step, status, call_gone=isinstance(error, ChannelGone))
            if reason is None:
                log.info("recording.call_gone", leg=plan.leg)  # he hung up first: no failure
            else:
                await self._failed(call, plan.leg, reason, str(error) or "timeout")
            return
        call.names.append(plan.name)
        call.snoops.append(snoop_id)
        await self._storage.recordings.add_recording(
            channel_id,
            plan.name,
            plan.leg,
            started_at=started_at,
            delete_after=policy.delete_after(started_at),
        )
        log.info("recording.started", recording=plan.name, leg=plan.leg)
        self._tasks.spawn(self._follow(channel_id, call, snoop_id, plan, events))

    async def _failed(
        self, call: _CallRecording, leg: str, reason: FailureReason, detail: str
    ) -> None:
        """Counted, and written on the call's record (owed through a database outage)."""
        call.failures.append(reason)
        log.error(
            "recording.not_recorded",
            attempt_id=call.attempt_id,
            leg=leg,
            reason=reason.value,
            error=detail,
        )
        if self._metrics is not None:
            self._metrics.failed(call.campaign, reason.value)
        try:
            await self._storage.recordings.add_recording_failure(
                call.channel_id, leg, reason.value, detail, _now()
            )
        except Exception:
            log.exception("recording.failure_not_written", attempt_id=call.attempt_id)

    def _tell(self, channel_id: str, call: _CallRecording) -> None:
        shown = desk_state(call.names, call.failures)
        for listener in self._listeners:
            try:
                listener(channel_id, shown)
            except Exception:
                log.exception("recording.listener_failed", channel_id=channel_id)

    async def _follow(
        self,
        channel_id: str,
        call: _CallRecording,
        snoop_id: str,
        plan: PlannedRecording,
        events: Subscription,
    ) -> None:
        """The file is complete when its recording finishes or its snoop channel goes (the
        debtor hung up: the snoop goes with him)."""
        name, failed = plan.name, None
        with events:
            async for event in events:
                if isinstance(event, RecordingFailed):
                    failed = event.recording.cause or "failed"
                    break
                if isinstance(event, (RecordingFinished, StasisEnd, ChannelDestroyed)):
                    break
        await self._storage.recordings.finish_recording(name, _now())
        await self._ari.hangup(snoop_id)
        if name in call.names:
            call.names.remove(name)
        if failed is not None:
            await self._failed(call, plan.leg, FailureReason.FAILED_MID_CALL, failed)
            self.health.tried(_now(), recorded=False)
            self._tell(channel_id, call)
        if not call.names and self._calls.get(channel_id) is call:
            self._calls.pop(channel_id, None)
            if call.paused:
                await self._storage.recordings.record_recording_resume(channel_id, _now())
        log.info("recording.finished", recording=name)

    async def check_folder(self, timeout: float = FOLDER_CHECK_TIMEOUT) -> str | None:
        """Whether Asterisk can write its recordings folder now: it records an empty bridge of
        our own for an instant (no call needed), then stops, deletes the file and destroys the
        bridge. The finding is kept for `/ready`; returns the problem, None when it can."""
        bridge_id = f"recording-check-{uuid.uuid4().hex[:12]}"
        problem = None
        try:
            async with asyncio.timeout(timeout):
                problem = await self._record_briefly(bridge_id)
        except TimeoutError:
            problem = "Asterisk did not answer the recording check"
        except (AriError, AriUnavailable) as error:
            log.warning("recording.check_not_made", error=str(error))
            problem = "Asterisk refused the recording check"
        finally:
            # Shielded: a check cancelled half way must not leave its bridge behind (nor,
            # where it got that far, its file: destroying the bridge ends the recording).
            with contextlib.suppress(AriError, AriUnavailable):
                await asyncio.shield(self._clear_check(bridge_id))
        self.health.folder_checked(problem)
        return problem

    async def _record_briefly(self, bridge_id: str) -> str | None:
        await self._ari.create_bridge(bridge_type="mixing", bridge_id=bridge_id)
        try:
            await self._ari.record_bridge(bridge_id, name=bridge_id, if_exists="overwrite")
        except AriError as error:
            # 500: Asterisk could not make the file there (its log has strerror's words).
            log.info("recording.check_refused", status=error.status, error=error.message)
            return FOLDER_PROBLEM if error.status >= 500 else "Asterisk refused the recording check"
        # Asterisk records in its recorder channel's thread, after answering the POST. A stop
        # while the recording is still queued is lost (it then records until the bridge goes),
        # so stop once it records, and delete the file once the live recording is over (the
        # file is closed by then). ARI sends an app no events of a bridge it made unless it
        # subscribes to it, hence the polls: a few milliseconds, bounded by the caller.
        while await self._live_state(bridge_id) == "queued":  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await self._ari.stop_recording(bridge_id)
        while await self._live_state(bridge_id) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        await self._ari.delete_stored_recording(bridge_id)
        return None

    async def _clear_check(self, bridge_id: str) -> None:
        if await self._ari.destroy_bridge(bridge_id):
            await self._ari.delete_stored_recording(bridge_id)

    async def _live_state(self, name: str) -> str | None:
        live = await self._ari.get_live_recording(name)
        return live.state if live is not None else None

    async def pause(self, channel_id: str, agent_id: int | None) -> None:
        """Stop writing this call's audio until `resume` (the paused part is left out)."""
        call = self._require(channel_id)
        if call.paused:
            raise RecordingError("the recording is paused already")
        for name in call.names:
            await self._ari.pause_recording(name)
        call.paused = True
        await self._storage.recordings.record_recording_pause(channel_id, agent_id, _now())
        log.info("recording.paused", recordings=call.names)

    async def resume(self, channel_id: str) -> None:
        call = self._require(channel_id)
        if not call.paused:
            raise RecordingError("the recording is not paused")
        for name in call.names:
            await self._ari.unpause_recording(name)
        call.paused = False
        await self._storage.recordings.record_recording_resume(channel_id, _now())
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

    async def failures(self, attempt_id: int) -> list[RecordingFailure]:
        """The recordings of a call that did not start or failed (the caller checked who may
        see it)."""
        return await self._storage.recordings.recording_failures(attempt_id)

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
