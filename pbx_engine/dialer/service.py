"""The dialer service: places calls and drives each one's `OutboundCall` state machine.

Every call runs as a task owned by the dialer's TaskGroup. Its attempt is written to PostgreSQL
with the channel id we choose *before* the originate, so an event that beats the HTTP answer is
never an orphan, and its final state is written under `asyncio.shield`, so a shutdown that
cancels the task cannot lose the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from ari_apps.outbound_call import (
    Action,
    AmdDecided,
    Finish,
    MarkAnswered,
    MarkRinging,
    MessageLeft,
    OutboundCall,
    Phase,
    RunAmd,
    Verdict,
)
from ari_apps.outcomes import Outcome, classify_amd, classify_unanswered, number_gone
from ari_apps.screening_call import ScreeningPolicy
from ari_apps.survey_call import CallSurvey
from pbx_engine.amd.detectors import Detector, DetectorKind, default_detector
from pbx_engine.amd.live import HELPER_PREFIX, EngineDetector, EngineVerdict
from pbx_engine.ari import (
    AriClient,
    AriError,
    AriNotServing,
    AriUnavailable,
    ChannelGone,
    Subscription,
)
from pbx_engine.ari.dialstrings import dial_string
from pbx_engine.ari.events import ChannelDestroyed, StasisEnd, StasisStart
from pbx_engine.ari.nodes import current_node, listing_node, on_node
from pbx_engine.ari.presence import EnginePresence
from pbx_engine.ari.router import stasis_arg
from pbx_engine.config import DialerConfig
from pbx_engine.metrics import CallMetrics, EngineMetrics
from pbx_engine.outbound.gate import DialAsk, OutboundGate, OutboundRefused
from pbx_engine.outbound.policy import Purpose
from pbx_engine.recording.policy import RecordingPolicy
from pbx_engine.recordkeeper.keeper import NotRecording, RecordKeeper
from pbx_engine.storage import Attempt, Storage
from pbx_engine.storage.engine_runs import EngineRun
from pbx_engine.storage.leases import Fence, FenceRefused
from pbx_engine.tasks import wait_set

log = structlog.get_logger(__name__)

# How long past the ring timeout / AMD timeout we wait for Asterisk before we act ourselves.
_GRACE = 5.0
# Seconds a handed call's channel has to leave this engine's app after the move was asked:
# heard neither leaving nor hanging up by then, it is taken for moved.
_MOVE_WAIT = 5.0
# How long after Asterisk refused a call no other is placed (seconds).
REFUSED_HOLD = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallRequest:
    number: str
    case_id: int | None = None
    phone_number_id: int | None = None
    campaign_id: int | None = None
    campaign: str | None = None  # its name, for the metrics
    agent_id: int | None = None
    caller_id: str | None = None
    agent: str | None = None  # login of the agent reserved for this call (progressive, preview)
    machine_message: str | None = None  # a sound to leave on answering machines, if any
    # The campaign's answer to call-screening assistants (ari_apps.screening_call); None: a
    # greeting is a machine's, whatever follows it.
    screening: ScreeningPolicy | None = None
    trunk: str | None = None  # the presented number's trunk; else the dialer's
    amd_detector: Detector | None = None  # the campaign's detector; else the dialer's
    recording: RecordingPolicy | None = None  # the campaign's; None: not recorded
    # A campaign's call passes the outbound policy here; a supervisor's test call passed it
    # in the API already (with his hourly cap).
    purpose: Purpose = Purpose.CAMPAIGN
    # The campaign's keypad survey, made fresh for the call when its agent ends it; None: none.
    survey: Callable[[], CallSurvey] | None = None
    # The campaign's lease this engine holds: the attempt's insert checks it (None: unchecked).
    fence: Fence | None = None
    # The Asterisk node to place it on (its agent's, where he waits in his bridge); None:
    # wherever there is room.
    node: str | None = None

    @classmethod
    def on_record(cls, attempt: Attempt) -> CallRequest:
        """A placed call's request as far as its record says (its campaign's settings aside:
        a call found after a restart, or handed here for a campaign not loaded)."""
        return cls(attempt.dialled, case_id=attempt.case_id, campaign_id=attempt.campaign_id)


@dataclass(frozen=True)
class CallResult:
    channel_id: str
    number: str
    outcome: Outcome
    amd_status: str | None
    amd_cause: str | None
    hangup_cause: int | None
    hangup_cause_text: str | None


@dataclass(frozen=True)
class HandedTo:
    """The person was handed to another engine (by its name), whose agent takes him."""

    engine: str


class CallHandler(Protocol):
    """What a call is for, once AMD has judged it: the dialer only dials and keeps records."""

    def on_placed(self, channel_id: str, request: CallRequest) -> None:
        """The call has its channel id and has not started yet (tie the agent reserved for
        it to this very call)."""
        ...

    async def on_verdict(
        self, channel_id: str, request: CallRequest, verdict: Verdict
    ) -> Outcome | HandedTo | None:
        """Act on the verdict (bridge an agent, drop a message, hang up); return an outcome
        that overrides AMD's (ABANDONED when no agent was free), the engine the person was
        handed to, or None."""
        ...

    async def on_handed(self, attempt: Attempt, judged_at: datetime) -> CallRequest:
        """A person another engine handed to this one (`attempt`, this engine's on record):
        put him through, or abandon him as the verdict's own engine would. Returns the
        request his call is handled under (its end is told with it)."""
        ...

    async def on_finished(self, request: CallRequest, result: CallResult) -> None:
        """The call is over and on record (free the agent, schedule the retry)."""
        ...

    async def on_orphaned(self, attempt: Attempt) -> None:
        """An answered call found after a restart with no agent on it: its flow (listening
        for AMD, waiting for an agent) died with the old engine and whoever answered hears
        silence. End it as its flow would have, had no agent been free."""
        ...


class HangUpOnVerdict:
    """With no agents to take calls: end every answered call once AMD has spoken."""

    def __init__(self, ari: AriClient) -> None:
        self._ari = ari

    def on_placed(self, channel_id: str, request: CallRequest) -> None:
        pass

    async def on_verdict(self, channel_id: str, request: CallRequest, verdict: Verdict) -> None:
        await self._ari.hangup(channel_id, reason="normal")

    async def on_finished(self, request: CallRequest, result: CallResult) -> None:
        pass

    async def on_handed(self, attempt: Attempt, judged_at: datetime) -> CallRequest:
        await self._ari.hangup(attempt.channel_id)
        return CallRequest.on_record(attempt)

    async def on_orphaned(self, attempt: Attempt) -> None:
        await self._ari.hangup(attempt.channel_id, reason="normal")


class DialerClosed(Exception):
    pass


class RecordingsFailing(NotRecording):
    """The call must be recorded and Asterisk cannot record now: nothing is dialled."""


class AsteriskNotHeard(NotRecording):
    """The events websocket is down: a call placed now could not be followed (its answer, its
    verdict, its end would go unheard), so nothing is dialled until it is back."""


@dataclass
class CallProgress:
    """How far a placed call has got, on the event loop's clock (seconds).

    Pacing counts calls by stage (ringing, under AMD, a person waiting for an agent) and
    learns how long each stage takes; the dialer keeps this up to date as the call moves.
    """

    placed_at: float
    answered_at: float | None = None
    verdict: Outcome | None = None  # HUMAN, MACHINE, SILENCE or FAX, once AMD has judged
    verdict_at: float | None = None
    handed_over_at: float | None = None  # the handler is done with the verdict
    abandoned: bool = False
    # The engine its person was handed to: whether he was abandoned there is on record only.
    handed_to: str | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class PlacedCall:
    """A call the dialer has just placed: its channel id (ours, chosen before the originate),
    its progress record (kept up to date until the call ends) and its task (owned by the
    dialer), which resolves to its result."""

    channel_id: str
    progress: CallProgress
    task: asyncio.Task[CallResult]
    node: str | None = None  # the Asterisk node it is placed on


@dataclass
class _LiveCall:
    lost: asyncio.Event
    progress: CallProgress
    created_at: float | None = None  # loop time when Asterisk confirmed the channel
    node: str | None = None  # the Asterisk node carrying it
    handed_to: str | None = None  # the engine its person was handed to


class Dialer:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        config: DialerConfig,
        handler: CallHandler | None = None,
        engine_detector: EngineDetector | None = None,
        outbound: OutboundGate | None = None,
        metrics: CallMetrics | None = None,
        records: RecordKeeper | None = None,
        recordings_failing: Callable[[], bool] = lambda: False,
        presence: EnginePresence | None = None,
    ) -> None:
        self._ari = ari
        self._presence = presence  # None: calls of another engine are never taken over
        self._recordings_failing = recordings_failing
        self._records = records  # None: writes are not kept through outages (tests, tools)
        self._outbound = outbound
        self._metrics = metrics or EngineMetrics().calls  # else counted where nobody looks
        self._storage = storage
        self._config = config
        self._engine_detector = engine_detector or EngineDetector(
            ari,
            media_host=config.media_host,
            media_peer=config.media_peer,
            timeout=config.amd_timeout,
        )
        self.handler: CallHandler = handler or HangUpOnVerdict(ari)
        self._detector = _default_detector(config)
        self._tasks: asyncio.TaskGroup | None = None
        self._active: dict[str, _LiveCall] = {}
        self._accepting = False
        self._idle = asyncio.Event()  # set whenever no call is live
        self._sweep: asyncio.Task[None] | None = None  # a later look for AMD leftovers
        # Told of an engine found gone (its ARI app): its agents are taken over too.
        self._gone_listeners: list[Callable[[EngineRun], Awaitable[object]]] = []
        # Nodes not heard, each with the task that settles its calls if it stays so.
        self._giving_up: dict[str, asyncio.Task[None]] = {}
        # Channels whose create (or hang-up) got no answer from ARI: they may exist in
        # Asterisk, never dialled; hung up at the next reconcile.
        self._undialled: set[str] = set()
        # When Asterisk last refused a call (shutting down, out of reach): the events websocket
        # may take a moment to drop, and a case put back meanwhile must not be tried in a loop.
        self._refused_at: float | None = None

    async def __aenter__(self) -> Dialer:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        self._accepting = True
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._accepting = False
        if self._sweep is not None:
            self._sweep.cancel()  # a chore, not a call: not waited for
        for task in self._giving_up.values():
            task.cancel()
        assert self._tasks is not None
        await self._tasks.__aexit__(*exc_info)

    @property
    def active_calls(self) -> int:
        return len(self._active)

    @property
    def recording(self) -> bool:
        """Whether a call placed now can be written down (else place_call refuses it)."""
        return self._records is None or self._records.writable

    def nodes_up(self) -> list[str]:
        """The Asterisk nodes a call may be placed on now, in the configured order."""
        return [node for node in self._ari.nodes if self._ari.node_up(node)]

    @property
    def asterisk_heard(self) -> bool:
        """Whether Asterisk's events are heard now (else no call may be placed)."""
        return self._ari.connected.is_set()

    def place_call(self, request: CallRequest) -> PlacedCall:
        """Start a call; its task (owned by the dialer) resolves to its result."""
        if not self._accepting or self._tasks is None:
            raise DialerClosed("the dialer is not accepting calls (stopping or not started)")
        if self._records is not None:
            self._records.require_writable()  # NotRecording: nothing is dialled
        if not self.asterisk_heard:
            raise AsteriskNotHeard("Asterisk's events are not heard now: no call may be placed")
        now = asyncio.get_running_loop().time()
        if self._refused_at is not None and now - self._refused_at < REFUSED_HOLD:
            raise AsteriskNotHeard(
                f"Asterisk refused a call {now - self._refused_at:.1f} s ago: none is placed "
                f"for {REFUSED_HOLD:.0f} s"
            )
        policy = request.recording
        if policy is not None and policy.blocks_dialling(self._recordings_failing()):
            raise RecordingsFailing("the call must be recorded and Asterisk cannot record now")
        node = request.node or self._ari.node_for_new_call()
        if node is None or not self._ari.node_up(node):
            raise AsteriskNotHeard(f"no Asterisk node to place the call on ({node or 'none up'})")
        channel_id = f"out-{uuid.uuid4()}"
        progress = CallProgress(asyncio.get_running_loop().time())
        self._active[channel_id] = _LiveCall(asyncio.Event(), progress, node=node)
        self.handler.on_placed(channel_id, request)
        with on_node(node):  # the call's channels and requests, on this node
            task = self._tasks.create_task(self._run(request, channel_id), name=channel_id)
        self._metrics.placed(request.campaign)
        return PlacedCall(channel_id, progress, task, node)

    async def call(self, request: CallRequest) -> CallResult:
        return await self.place_call(request).task

    def stop_accepting(self) -> None:
        self._accepting = False

    async def drain(self, timeout: float) -> None:
        """Let live calls end by themselves for `timeout` seconds, then hang up the rest."""
        self.stop_accepting()
        if self._active:
            self._idle.clear()
            await wait_set(self._idle, timeout)
        for channel_id in list(self._active):
            log.warning("dialer.drain_hangup", channel_id=channel_id)
            await self._ari.hangup(channel_id, reason="normal")

    async def reconcile(self) -> None:
        """After (re)connecting to Asterisk: settle attempts whose channels no longer exist.

        Events are not queued while the websocket is down, so a call that ended meanwhile sends
        no ChannelDestroyed; ask Asterisk which channels are alive and compare with our own view
        and with the attempts the database still has open. With several Asterisk nodes this
        runs for the node that reconnected (`only_node`'s scope), and looks at its calls only.
        """
        node = listing_node.get()
        asked_at = asyncio.get_running_loop().time()
        channels = await self._ari.list_channels()
        live = {channel.id for channel in channels}
        for channel_id in list(self._undialled):
            self._undialled.discard(channel_id)
            if channel_id in live:
                log.warning("dialer.undialled_channel_removed", channel_id=channel_id)
                await self._hang_up_undialled(channel_id)
        try:
            await self._engine_detector.remove_leftovers(channels, _now())
        except (AriError, AriUnavailable) as error:
            log.warning("dialer.amd_leftovers_not_removed", error=str(error))
        if any(channel.id.startswith(HELPER_PREFIX) for channel in channels):
            # Too young to tell from a listener in use: looked at again once they can be.
            self._sweep_leftovers_later()
        for channel_id, call in self._active.items():
            # A call whose channel was created after we asked is not in the answer, yet alive.
            if (
                call.created_at is not None
                and call.created_at < asked_at
                and channel_id not in live
                and _carried_by(call.node, node)
            ):
                call.lost.set()
        attempts = await self._storage.attempts.open_attempts()
        await self._settle_open([a for a in attempts if _carried_by(a.node, node)], live)

    def node_lost(self, node: str) -> None:
        """One of several Asterisk nodes is not heard: if it stays so for `[dialer]
        node_lost_calls_after` seconds, its calls are settled as lost."""
        if self._tasks is None or not self._accepting:
            return
        previous = self._giving_up.pop(node, None)
        if previous is not None:
            previous.cancel()
        task = self._tasks.create_task(self._give_up_on(node), name=f"give-up-{node}")
        self._giving_up[node] = task
        task.add_done_callback(lambda done: self._gave_up(node, done))

    def _gave_up(self, node: str, task: asyncio.Task[None]) -> None:
        if self._giving_up.get(node) is task:
            del self._giving_up[node]

    async def _give_up_on(self, node: str) -> None:
        await asyncio.sleep(self._config.node_lost_calls_after)
        if self._ari.node_up(node):
            return  # back: its reconnect compared its calls with what it carries
        calls = [call for call in self._active.values() if call.node == node]
        log.warning("dialer.node_given_up", node=node, calls=len(calls))
        for call in calls:
            call.lost.set()  # each call's flow ends it, as a lost channel
        try:
            attempts = await self._storage.attempts.open_attempts()
            await self._settle_open([a for a in attempts if a.node == node], live=set())
        except Exception as error:  # never raised: this task group runs the calls
            log.warning("dialer.node_calls_not_settled", node=node, error=str(error))

    def on_engine_gone(self, listener: Callable[[EngineRun], Awaitable[object]]) -> None:
        """`await listener(run)` when another engine's run is found gone from the PBX (its
        beat stands still) and taken over, before its calls are."""
        self._gone_listeners.append(listener)

    async def take_over(self, engine: str, life: str) -> int:
        """`engine`'s run marked `life`, found gone from this PBX (its beat stands still),
        becomes this engine's unless another took it first: its agents (through the gone
        listeners), and its calls still open on record: each one still up is heard from now
        on and followed to its end (one answered and left without an agent is ended as a
        restart's are), each one gone is settled from what is on record. Returns how many
        calls were taken."""
        me = self._storage.attempts.engine
        if not self._accepting or me is None or engine == me:
            return 0
        app = await self._storage.engine_runs.claim(engine, life, by=me)
        if app is None:
            log.info("dialer.engine_taken_already", engine=engine)
            return 0  # another engine has it, or it restarted or stopped cleanly since
        log.warning("dialer.engine_taken_over", engine=engine, app=app)
        gone = EngineRun(engine, app, life)
        for listener in self._gone_listeners:
            try:
                await listener(gone)
            except Exception:
                log.exception("dialer.engine_gone_listener_failed", engine=engine)
        attempts = await self._storage.attempts.take_over(engine)
        if not attempts:
            return 0
        live = {channel.id for channel in await self._ari.list_channels()}
        for attempt in attempts:
            if attempt.channel_id in live and not await self._ari.subscribe_app_to_channel(
                attempt.channel_id
            ):
                live.discard(attempt.channel_id)  # gone meanwhile
        log.warning("dialer.calls_taken_over", engine=engine, calls=len(attempts))
        await self._settle_open(attempts, live)
        return len(attempts)

    async def _settle_open(self, attempts: list[Attempt], live: set[str]) -> None:
        """Calls open on record that no call flow of this engine runs: followed if their
        channel is up, else ended on record as lost."""
        in_bridges: set[str] | None = None
        for attempt in attempts:
            if attempt.channel_id in self._active:
                continue
            if attempt.channel_id in live:
                # A call from before a restart of the engine, still up: follow it to its end.
                if in_bridges is None and may_be_orphaned(attempt):
                    in_bridges = {c for b in await self._ari.list_bridges() for c in b.channels}
                orphaned = may_be_orphaned(attempt) and attempt.channel_id not in (in_bridges or ())
                self._adopt(attempt, orphaned)
                continue
            changed = await self._storage.attempts.finish_attempt(
                attempt.channel_id,
                ended_at=_now(),
                hangup_cause=None,
                hangup_cause_text="channel lost while the engine was not watching",
                outcome=_outcome_on_record(attempt).value,
            )
            if changed:
                log.warning("dialer.attempt_lost", channel_id=attempt.channel_id)

    def _sweep_leftovers_later(self) -> None:
        if self._tasks is None or not self._accepting:
            return
        if self._sweep is not None and not self._sweep.done():
            return
        self._sweep = self._tasks.create_task(self._sweep_leftovers(), name="amd-leftover-sweep")

    async def _sweep_leftovers(self) -> None:
        await asyncio.sleep(self._engine_detector.leftover_age + 1)
        try:
            channels = await self._ari.list_channels()
            await self._engine_detector.remove_leftovers(channels, _now())
        except (AriError, AriUnavailable) as error:
            log.warning("dialer.amd_leftovers_not_removed", error=str(error))

    def take_handed(self, start: StasisStart) -> None:
        """For the Stasis router: a person another engine handed to this one (it moved his
        channel into this engine's app after making the call this engine's on record)."""
        if self._tasks is None:
            log.warning("dialer.handed_while_closed", channel_id=start.channel.id)
            return
        self._tasks.create_task(self._take_handed(start), name=f"handed-{start.channel.id}")

    async def _take_handed(self, start: StasisStart) -> None:
        channel_id = start.channel.id
        try:
            attempt = await self._storage.attempts.get_attempt(channel_id)
            me = self._storage.attempts.engine
            if attempt is None or attempt.placed_by != me or attempt.ended_at is not None:
                # Nothing any engine asked of this one: an app's arguments are not proof enough.
                log.warning("dialer.handed_unknown", channel_id=channel_id)
                await self._ari.hangup(channel_id)
                return
            # A channel moved into an app is not subscribed to it: its hang-up would go unheard.
            await self._ari.subscribe_app_to_channel(channel_id)
            if self._adopt(attempt, orphaned=False, handed_at=_judged_at(stasis_arg(start, 1))):
                return
            log.warning("dialer.handed_while_stopping", channel_id=channel_id)
        except Exception:  # one call's trouble must not take the others' task group down
            log.exception("dialer.handed_failed", channel_id=channel_id)
        # Its end is settled from the record by whoever follows this engine's calls next.
        with contextlib.suppress(AriError, AriUnavailable):
            await self._ari.hangup(channel_id)

    def _adopt(self, attempt: Attempt, orphaned: bool, handed_at: datetime | None = None) -> bool:
        """Follow a call no flow of this engine runs to its end; False when stopping."""
        if self._tasks is None or not self._accepting:
            return False
        now = asyncio.get_running_loop().time()
        self._active[attempt.channel_id] = _LiveCall(
            asyncio.Event(), CallProgress(now), created_at=0.0, node=attempt.node
        )
        with on_node(attempt.node or current_node.get()):
            self._tasks.create_task(
                self._follow(attempt, orphaned, handed_at), name=f"adopted-{attempt.channel_id}"
            )
        return True

    async def _follow(
        self, attempt: Attempt, orphaned: bool, handed_at: datetime | None = None
    ) -> None:
        """Wait for an adopted call's end and settle its attempt from what is on record; an
        orphaned one (answered, no agent on it) is ended by the handler first, and a person
        handed from another engine (judged at `handed_at`) put through first."""
        channel_id = attempt.channel_id
        log.info(
            "dialer.adopted",
            channel_id=channel_id,
            direction=attempt.direction,
            orphaned=orphaned,
            handed=handed_at is not None,
        )
        # Channels that entered Stasis from the dialplan (inbound) stop reporting at StasisEnd.
        ends = (ChannelDestroyed, StasisEnd) if attempt.direction == "inbound" else ChannelDestroyed
        end: ChannelDestroyed | StasisEnd | None = None
        request: CallRequest | None = None
        try:
            with self._ari.subscribe(channel_id) as events:
                if orphaned:
                    # Its listener died with the old engine; its helpers never hang up alone.
                    with contextlib.suppress(AriError, AriUnavailable):
                        await self._engine_detector.remove_setups_on(channel_id)
                    await self.handler.on_orphaned(attempt)
                if handed_at is not None:
                    request = await self.handler.on_handed(attempt, handed_at)
                while await self._ari.get_channel(channel_id) is not None:
                    try:
                        end = await events.wait_for(ends, timeout=30)
                        break
                    except TimeoutError:
                        continue  # still up, or gone while we looked away: ask again
            current = await self._storage.attempts.get_attempt(channel_id) or attempt
            cause = end.cause if isinstance(end, ChannelDestroyed) else None
            outcome = (
                _outcome_on_record(current)
                if current.answered_at
                else classify_unanswered(cause, None)
            )
            await asyncio.shield(
                self._storage.attempts.finish_attempt(
                    channel_id,
                    ended_at=_now(),
                    hangup_cause=cause,
                    hangup_cause_text=end.cause_txt if isinstance(end, ChannelDestroyed) else None,
                    outcome=outcome.value,
                )
            )
            log.info("dialer.adopted_call_ended", channel_id=channel_id, outcome=outcome.value)
            if request is not None:  # its agent, this engine's, goes to wrap-up
                await self._tell_finished(
                    request,
                    CallResult(channel_id, attempt.dialled, outcome, None, None, cause, None),
                )
        except Exception:
            log.exception("dialer.adopted_call_failed", channel_id=channel_id)
        finally:
            self._active.pop(channel_id, None)
            if not self._active:
                self._idle.set()

    async def _run(self, request: CallRequest, channel_id: str) -> CallResult:
        structlog.contextvars.bind_contextvars(
            channel_id=channel_id,
            number=request.number,
            case_id=request.case_id,
            node=current_node.get(),
        )
        try:
            result = await self._drive(request, channel_id, self._active[channel_id])
        except (NotRecording, FenceRefused) as error:
            # Its attempt could not be written (or the campaign is another engine's now):
            # nothing rang, nothing to settle.
            log.warning("call.not_placed", error=str(error))
            result = CallResult(
                channel_id, request.number, Outcome.CANCELLED, None, None, None, str(error)
            )
            await self._tell_finished(request, result)
        except Exception as error:
            # One call's bug must not take the TaskGroup, and every other call, down with it.
            log.exception("call.crashed")
            text = f"engine error: {type(error).__name__}"
            try:
                await asyncio.shield(
                    self._storage.attempts.finish_attempt(
                        channel_id,
                        ended_at=_now(),
                        hangup_cause=None,
                        hangup_cause_text=text,
                        outcome=Outcome.FAILED.value,
                    )
                )
            except Exception:
                log.exception("call.not_settled")  # reconcile settles it after a restart
            result = CallResult(channel_id, request.number, Outcome.FAILED, None, None, None, text)
            await self._tell_finished(request, result)  # the agent held for it is let go
        finally:
            call = self._active.pop(channel_id)
            call.progress.ended_at = asyncio.get_running_loop().time()
            if not self._active:
                self._idle.set()
            structlog.contextvars.unbind_contextvars("channel_id", "number", "case_id", "node")
        self._metrics.finished(request.campaign, result.outcome.value)
        return result

    async def _drive(self, request: CallRequest, channel_id: str, live: _LiveCall) -> CallResult:
        detector = request.amd_detector or self._detector
        caller_id = request.caller_id or self._config.caller_id or None
        call = OutboundCall(channel_id)
        await self._open_attempt(request, channel_id, caller_id)
        finish = await self._outbound_refusal(request)
        async with self._ari.subscribe(channel_id) as events:
            if finish is None:
                finish = await self._originate(request, channel_id, caller_id, live, call, events)
            try:
                if finish is None:
                    finish = await self._handle_events_until_finished(
                        request, channel_id, live, call, detector, events
                    )
            finally:
                await self._engine_detector.stop_watching(channel_id)
        return await self._record_end(request, channel_id, call, finish)

    async def _open_attempt(
        self, request: CallRequest, channel_id: str, caller_id: str | None
    ) -> None:
        await self._storage.attempts.create_attempt(
            channel_id=channel_id,
            dialled=request.number,
            caller_id=caller_id,
            case_id=request.case_id,
            phone_number_id=request.phone_number_id,
            campaign_id=request.campaign_id,
            agent_id=request.agent_id,
            direction="outbound",
            fence=request.fence,
            node=current_node.get(),
        )

    async def _outbound_refusal(self, request: CallRequest) -> Finish | None:
        """A campaign call's end before anything rang, if the outbound policy refuses it."""
        if self._outbound is None or request.purpose is not Purpose.CAMPAIGN:
            return None
        try:
            await self._outbound.check(DialAsk(Purpose.CAMPAIGN, request.number))
        except OutboundRefused as refusal:
            return Finish(Outcome.FAILED, _now(), None, f"outbound policy: {refusal}")
        return None

    async def _originate(
        self,
        request: CallRequest,
        channel_id: str,
        caller_id: str | None,
        live: _LiveCall,
        call: OutboundCall,
        events: Subscription,
    ) -> Finish | None:
        """Create the channel and dial it; the call's end if it ended already, else None."""
        config = self._config
        try:
            # PJSIP fills the INVITE's From (and P-Asserted-Identity) from the channel's
            # connected line, which a channel made through ARI does not have: set both.
            variables = (
                {"CALLERID(num)": caller_id, "CONNECTEDLINE(num)": caller_id} if caller_id else None
            )
            await self._ari.create_channel(
                dial_string(request.number, request.trunk or config.trunk),
                app=self._ari.app,
                app_args=["outbound"],
                channel_id=channel_id,
                variables=variables,
            )
            live.created_at = asyncio.get_running_loop().time()
            # The channel enters Stasis a moment after /create answers; a /dial sent before
            # its StasisStart gets 409 "Channel not in Stasis application".
            first = await events.wait_for((StasisStart, ChannelDestroyed), timeout=_GRACE)
            if isinstance(first, ChannelDestroyed):
                [finish] = [a for a in call.handle(first, _now()) if isinstance(a, Finish)]
                return finish
            await self._storage.attempts.mark_attempt_originated(channel_id, _now())
            await self._ari.dial(channel_id, timeout=int(config.ring_timeout))
            log.info("call.dialing", trunk=request.trunk or config.trunk)
        except ChannelGone:
            pass  # Destroyed already: its ChannelDestroyed is on the way.
        except AriNotServing as error:
            # Refused before anything was done: if the create went through, the channel waits
            # undialled and is hung up now or once Asterisk answers again.
            log.warning("call.not_placed", error=str(error))
            self._refused_at = asyncio.get_running_loop().time()
            if live.created_at is not None:
                await self._hang_up_undialled(channel_id)
            return Finish(Outcome.NOT_PLACED, _now(), None, f"not placed: {error}"[:200])
        except AriUnavailable as error:
            if live.created_at is None:
                # The create got no answer: nothing was dialled, whether or not it arrived.
                log.error("call.originate_unanswered", error=str(error))
                self._refused_at = asyncio.get_running_loop().time()
                self._undialled.add(channel_id)
                return Finish(Outcome.NOT_PLACED, _now(), None, f"not placed: {error}"[:200])
            # The dial may have reached Asterisk: the call is followed as any other, and the
            # next reconcile says whether its channel lives.
            log.warning("call.dial_unanswered", error=str(error))
        except (AriError, TimeoutError) as error:
            reason = str(error) or "the channel never entered Stasis"
            log.error("call.originate_failed", error=reason)
            await self._hang_up_undialled(channel_id)
            return Finish(Outcome.FAILED, _now(), None, f"originate failed: {reason}")
        return None

    async def _hang_up_undialled(self, channel_id: str) -> None:
        try:
            await self._ari.hangup(channel_id)
        except ChannelGone:
            pass
        except AriUnavailable:
            self._undialled.add(channel_id)  # tried again once ARI answers

    async def _handle_events_until_finished(
        self,
        request: CallRequest,
        channel_id: str,
        live: _LiveCall,
        call: OutboundCall,
        detector: Detector,
        events: Subscription,
    ) -> Finish:
        """Feed the call's events (and the engine detector's verdict) to its state machine and
        carry out its actions until it finishes."""
        # The engine's own detector, listening while the call waits in Stasis: owned by this
        # call, cancelled (which removes its helper channels) however the call ends.
        detection: asyncio.Task[EngineVerdict] | None = None
        finish: Finish | None = None
        hung_up = False
        try:
            while finish is None:
                timeout = _GRACE if hung_up else _phase_timeout(call.phase, self._config)
                event = await _next_event(events, live.lost, timeout, detection)
                if event is None and detection is not None and detection.done():
                    event, detection = _decided(detection), None
                    if event is None:
                        continue  # it could not listen: the call's own events decide
                if event is not None:
                    actions = call.handle(event, _now())
                elif live.lost.is_set() or hung_up or await self._known_gone(channel_id):
                    actions = call.lost(_now(), self._config.ring_timeout)
                else:
                    log.warning("call.phase_timeout", phase=call.phase.value)
                    try:
                        await self._ari.hangup(channel_id, reason="normal")
                    except AriUnavailable as error:
                        # Asterisk may still carry it: asked again after the next timeout, or
                        # settled by the reconcile once ARI answers.
                        log.warning("call.hangup_unanswered", error=str(error))
                        continue
                    hung_up = True
                    continue
                for action in actions:
                    if isinstance(action, Finish):
                        finish = action
                    elif isinstance(action, RunAmd) and detector.kind is DetectorKind.ENGINE:
                        detection = self._start_engine_detection(channel_id, request, detector)
                    else:
                        await self._perform(channel_id, request, detector, call, action)
                if finish is None and live.handed_to is not None:
                    finish = await until_moved(call, live.handed_to, events)
        finally:
            if detection is not None:
                detection.cancel()
                await asyncio.gather(detection, return_exceptions=True)
        return finish

    async def _known_gone(self, channel_id: str) -> bool:
        """Whether Asterisk says the channel is gone; False while ARI does not answer."""
        try:
            return await self._ari.get_channel(channel_id) is None
        except AriUnavailable as error:
            log.warning("call.state_unknown", error=str(error))
            return False

    def _start_engine_detection(
        self, channel_id: str, request: CallRequest, detector: Detector
    ) -> asyncio.Task[EngineVerdict]:
        # Leaving a message, or answering call screening, it listens on after a MACHINE verdict
        # for the greeting's end (the connector takes it from there).
        return asyncio.create_task(
            self._engine_detector.listen(
                channel_id,
                watch_greeting=bool(request.machine_message or request.screening),
                learned=detector.learned,
            ),
            name=f"amd-{channel_id}",
        )

    async def _record_end(
        self, request: CallRequest, channel_id: str, call: OutboundCall, finish: Finish
    ) -> CallResult:
        """Put the call's end on record and tell the handler."""
        if finish.handed_to is not None:
            log.info("call.handed_over", engine=finish.handed_to)  # its end is that engine's
        else:
            # The final state must reach the database even if we are being cancelled.
            await asyncio.shield(
                self._storage.attempts.finish_attempt(
                    channel_id,
                    ended_at=finish.at,
                    hangup_cause=finish.cause,
                    hangup_cause_text=finish.cause_text,
                    outcome=finish.outcome.value,
                    number_gone=number_gone(finish.outcome, finish.cause),
                )
            )
            log.info("call.finished", outcome=finish.outcome.value, cause=finish.cause)
        verdict = call.verdict
        result = CallResult(
            channel_id=channel_id,
            number=request.number,
            outcome=finish.outcome,
            amd_status=verdict.status if verdict else None,
            amd_cause=verdict.cause if verdict else None,
            hangup_cause=finish.cause,
            hangup_cause_text=finish.cause_text,
        )
        try:
            await self.handler.on_finished(request, result)
        except Exception:
            log.exception("call.finish_handler_failed")
        return result

    async def _tell_finished(self, request: CallRequest, result: CallResult) -> None:
        try:
            await self.handler.on_finished(request, result)
        except Exception:
            log.exception("call.finish_handler_failed")

    async def _perform(
        self,
        channel_id: str,
        request: CallRequest,
        detector: Detector,
        call: OutboundCall,
        action: Action,
    ) -> None:
        progress = self._active[channel_id].progress
        loop = asyncio.get_running_loop()
        try:
            match action:
                case MarkRinging(at=at):
                    await self._storage.attempts.mark_attempt_ringing(channel_id, at)
                case MarkAnswered(at=at):
                    progress.answered_at = loop.time()
                    self._metrics.answered(request.campaign)
                    await self._storage.attempts.mark_attempt_answered(channel_id, at)
                case RunAmd():
                    await self._ari.continue_in_dialplan(
                        channel_id,
                        context=detector.context or self._config.amd_context,
                        extension="s",
                        priority=1,
                    )
                case Verdict() as verdict:
                    log.info("call.amd_verdict", status=verdict.status, cause=verdict.cause)
                    progress.verdict, progress.verdict_at = verdict.outcome, loop.time()
                    self._metrics.amd_verdict(
                        verdict.outcome.value,
                        verdict.heard_by.value,
                        _since(progress.answered_at, progress.verdict_at),
                    )
                    # A person is waiting in silence: put him through first, write after.
                    try:
                        settled = await self.handler.on_verdict(channel_id, request, verdict)
                        if isinstance(settled, HandedTo):
                            progress.handed_to = self._active[channel_id].handed_to = settled.engine
                            settled = Outcome.HUMAN  # a person (after screening too)
                        progress.abandoned = settled is Outcome.ABANDONED
                        if progress.abandoned:
                            self._metrics.abandoned(request.campaign)
                    finally:
                        progress.handed_over_at = loop.time()
                        await asyncio.shield(
                            self._storage.attempts.record_amd(
                                channel_id, verdict.status, verdict.cause, verdict.at
                            )
                        )
                    if settled is not None:
                        call.settle_as(settled)
                case MessageLeft(started_at=started, at=at, greeting_ended=ended):
                    log.info("call.message_left", greeting_ended=ended)
                    await self._storage.attempts.record_message(channel_id, started or at, at)
                    await self._ari.hangup(channel_id)
        except ChannelGone:
            # The far end hung up between the event and our request: its ChannelDestroyed
            # follows and settles the call.
            log.info("call.gone_during_action", action=type(action).__name__)


def _default_detector(config: DialerConfig) -> Detector:
    """The detector of calls whose campaign names none: the dialer's, else (set empty) AMD()
    in the dialplan context `amd_context`."""
    return default_detector(config.amd_detector, config.amd_context)


def _decided(detection: asyncio.Task[EngineVerdict]) -> AmdDecided | None:
    """The engine detector's verdict as an event of the call; None when it could not listen
    because the call is gone (its ChannelDestroyed settles it)."""
    if detection.cancelled():
        return None
    error = detection.exception()
    if error is None:
        verdict = detection.result()
        return AmdDecided(verdict.status, verdict.cause)
    if isinstance(error, ChannelGone):
        log.info("call.gone_before_amd", error=str(error))
        return None
    # Asterisk would not set the listener up: unsure, so a person, never hung up on.
    log.error("call.amd_listener_failed", error=str(error) or type(error).__name__)
    return AmdDecided("NOTSURE", "LISTENER-FAILED")


async def until_moved(
    call: OutboundCall, engine: str, events: Subscription, wait: float = _MOVE_WAIT
) -> Finish:
    """After the hand-over's move was asked (ARI answers before Asterisk moves it): the
    channel leaves this app (StasisEnd: the other engine has him, and writes the end), or
    hangs up first (the move never happened: this engine writes the end). Neither heard within
    `wait` seconds: taken for moved."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            while not isinstance(event := await events.get(), StasisEnd):
                for action in call.handle(event, _now()):
                    if isinstance(action, Finish):
                        return action
    (finish,) = call.handed(engine, _now())
    return finish


def _judged_at(stamp: str) -> datetime:
    """A handed call's verdict time (Unix seconds, from the engine that judged it); now when
    it says none that makes sense."""
    try:
        return datetime.fromtimestamp(float(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return _now()


def _since(start: float | None, end: float) -> float | None:
    return end - start if start is not None else None


def _carried_by(call_node: str | None, node: str | None) -> bool:
    """Whether a call on `call_node` is one node `node`'s listing speaks for (None: a call
    from before calls named their node, or a listing of every node)."""
    return call_node is None or node is None or call_node == node


def may_be_orphaned(attempt: Attempt) -> bool:
    """An outbound call answered and neither put through, nor ended by abandoning it or by a
    message on a machine: nothing but its lost flow would have ended it (unless an agent's
    bridge holds it, which only Asterisk can say)."""
    return (
        attempt.direction == "outbound"
        and attempt.answered_at is not None
        and attempt.bridged_at is None
        and not attempt.abandoned
        and attempt.message_started_at is None
    )


def _outcome_on_record(attempt: Attempt) -> Outcome:
    """What an attempt we could not follow to its end amounts to, from what was stored."""
    if attempt.abandoned:
        return Outcome.ABANDONED
    if attempt.bridged_at is not None:
        return Outcome.HUMAN  # with an agent: a person, whatever AMD said before screening
    if attempt.amd_status:
        return classify_amd(attempt.amd_status, attempt.amd_cause)
    return Outcome.HUMAN if attempt.answered_at else Outcome.FAILED


def _phase_timeout(phase: Phase, config: DialerConfig) -> float:
    if phase in (Phase.DIALING, Phase.RINGING):
        return config.ring_timeout + _GRACE
    if phase is Phase.DETECTING:
        return config.amd_timeout + _GRACE
    return 3600.0  # Connected: the call lasts as long as the conversation.


async def _next_event(events, lost: asyncio.Event, timeout: float, detection=None):
    """The next event about the call, or None on timeout, when the channel is known lost, or
    when the engine's detector (if listening) has finished."""
    if lost.is_set():
        return None
    get = asyncio.ensure_future(events.get())
    lost_wait = asyncio.ensure_future(lost.wait())
    waiting = {get, lost_wait} | ({detection} if detection is not None else set())
    try:
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (get, lost_wait):
            if not task.done():
                task.cancel()
    if get in done:
        return get.result()
    return None
