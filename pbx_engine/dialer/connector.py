"""Putting live debtors through to agents, and the abandon guard when none is free.

A person judged HUMAN goes into the bridge of the agent reserved for the call, or of the first
agent to become ready within `abandon_wait` seconds (2 s, the regulators' limit); failing that
he hears the abandon message (who called, how to call back) and the call counts as abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from ari_apps.outbound_call import Verdict
from ari_apps.outcomes import NOT_A_PERSON, Outcome, classify_amd
from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import AgentState
from pbx_engine.amd.detectors import MESSAGE_DROP_CONTEXT, DetectorKind
from pbx_engine.amd.live import EngineDetector
from pbx_engine.ari import AriClient, AriError, AriUnavailable, ChannelGone
from pbx_engine.ari.events import ChannelDestroyed, Event, PlaybackFinished, StasisEnd
from pbx_engine.ari.media import as_media
from pbx_engine.dialer.service import CallRequest, CallResult
from pbx_engine.metrics import CallMetrics, EngineMetrics
from pbx_engine.recording.service import CallRecorder
from pbx_engine.storage import Attempt, Storage
from pbx_engine.surveys import CallSurveys

log = structlog.get_logger(__name__)

ABANDONED_CALLBACK_AFTER = timedelta(minutes=5)
# A debtor whose agent's phone died mid-call was in a conversation: he is called back soon,
# ahead of new cases, as promised by the message he hears.
AGENT_LOST_CALLBACK_AFTER = timedelta(minutes=2)
_Wanted = TypeVar("_Wanted")
LONGEST_MESSAGE = 300.0  # seconds; a message still playing then is cut


class AgentConnector:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        agents: AgentService,
        *,
        abandon_wait: float = 2.0,
        abandon_message: str = "sound:vm-goodbye",
        recorder: CallRecorder | None = None,
        engine_detector: EngineDetector | None = None,
        metrics: CallMetrics | None = None,
        surveys: CallSurveys | None = None,
    ) -> None:
        self._metrics = metrics or EngineMetrics().calls  # else counted where nobody looks
        self._surveys = surveys
        self._recorder = recorder
        self._engine_detector = engine_detector
        self._ari = ari
        self._storage = storage
        self._agents = agents
        self._abandon_wait = abandon_wait
        self._abandon_message = abandon_message
        self._agent_of: dict[str, str] = {}  # debtor channel -> agent login
        self._put_through: dict[str, CallRequest] = {}  # debtor channel -> what was asked

    def on_placed(self, channel_id: str, request: CallRequest) -> None:
        if request.agent:
            # Named before anything can wait: this call's verdict and end act on this
            # reservation alone, never on a later one of the same agent.
            self._agents.hold_for(request.agent, channel_id)

    async def on_verdict(
        self, channel_id: str, request: CallRequest, verdict: Verdict
    ) -> Outcome | None:
        if verdict.outcome in NOT_A_PERSON:
            if request.agent:
                await self._agents.release(request.agent, channel_id)
            if verdict.outcome is Outcome.MACHINE and request.machine_message:
                await self._leave_message(channel_id, verdict, request.machine_message)
            else:
                await self._ari.hangup(channel_id)
            return None
        agent = self._agents.status(request.agent) if request.agent else None
        if agent is None or not agent.held_for(channel_id):
            agent = await self._agents.wait_for_ready(self._abandon_wait)
        if agent is None:
            return await self._abandon(channel_id, request)
        agent_id = self._agents.agent_id(agent.login)
        try:
            bridged_at = await self._agents.connect(
                agent,
                channel_id,
                record=lambda at: self._storage.attempts.mark_attempt_bridged(
                    channel_id, agent_id, at
                ),
            )
        except ChannelGone:
            return None  # the debtor hung up during AMD; his ChannelDestroyed settles the call
        except AgentError:
            log.warning("call.agent_lost_before_bridge", agent=agent.login)
            return await self._abandon(channel_id, request)
        self._agent_of[channel_id] = agent.login
        self._put_through[channel_id] = request
        dead_air = (bridged_at - verdict.at).total_seconds()
        self._metrics.dead_air(request.campaign, dead_air)
        log.info("call.bridged", agent=agent.login, after_verdict_ms=round(dead_air * 1000, 1))
        if request.recording is not None and self._recorder is not None:
            self._recorder.start_soon(channel_id, request.recording, request.campaign)
        return None

    async def _leave_message(self, channel_id: str, verdict: Verdict, message: str) -> None:
        """After the engine detector's MACHINE verdict its listening goes on until the
        greeting is over, and the message is played here. Otherwise the dialplan waits for the
        greeting's end, plays the message, and sends the call back with `message` arguments
        (the call's state machine takes it from there)."""
        detector = self._engine_detector
        if detector is not None and verdict.heard_by is DetectorKind.ENGINE:
            await self._leave_message_after_greeting(detector, channel_id, message)
            return
        try:
            await self._ari.set_variable(channel_id, "ENGINE_MESSAGE", message)
            await self._ari.continue_in_dialplan(
                channel_id, context=MESSAGE_DROP_CONTEXT, extension="s", priority=1
            )
        except AriError as error:
            log.error("call.message_drop_failed", error=str(error))
            await self._ari.hangup(channel_id)

    async def _leave_message_after_greeting(
        self, detector: EngineDetector, channel_id: str, message: str
    ) -> None:
        """The call stays in Stasis: wait for the beep listener's go (or the debtor's line to
        hang up), play the message, record when it played, hang up."""
        with self._ari.subscribe(channel_id) as events:
            try:
                # Gone between the verdict and this subscription: no event would say so.
                if await self._ari.get_channel(channel_id) is None:
                    log.info("call.gone_during_greeting")
                    return
                over, gone = await _first_of(
                    detector.greeting_over(channel_id),
                    events.wait_for((ChannelDestroyed, StasisEnd), timeout=LONGEST_MESSAGE),
                )
                if gone is not None or over is None:
                    log.info("call.gone_during_greeting")
                    return
                started_at = datetime.now(UTC)
                playback = await self._ari.play(channel_id, as_media(message))
                log.info(
                    "call.message_started",
                    greeting_over_by=over.reason.value,
                    beep_ms=over.beep_ms,
                )
                # The snoop has nothing more to hear; removed while the message plays.
                await detector.stop_watching(channel_id)
                ended = await events.wait_for(
                    (PlaybackFinished, StasisEnd, ChannelDestroyed),
                    lambda e: not isinstance(e, PlaybackFinished) or e.playback.id == playback.id,
                    timeout=LONGEST_MESSAGE,
                )
                if not isinstance(ended, PlaybackFinished):
                    # As with the dialplan's drop: a message cut short is not on record.
                    log.info("call.gone_during_message")
                    return
                log.info("call.message_left", greeting_over_by=over.reason.value)
                await self._storage.attempts.record_message(
                    channel_id, started_at, datetime.now(UTC)
                )
            except (ChannelGone, TimeoutError):
                log.info("call.gone_during_message")
            except (AriError, AriUnavailable) as error:
                log.error("call.message_drop_failed", error=str(error))
            finally:
                await detector.stop_watching(channel_id)
        await self._ari.hangup(channel_id)

    async def _abandon(self, channel_id: str, request: CallRequest) -> Outcome:
        log.warning("call.abandoned")
        await self._storage.attempts.mark_attempt_abandoned(channel_id)
        # He was promised a call back (the abandon message says so): the callback queue
        # makes it, with an agent held for it.
        await self._promise_callback(channel_id, request, "abandoned", ABANDONED_CALLBACK_AFTER)
        await self._apologise_and_hang_up(channel_id, "call.abandon_message_failed")
        return Outcome.ABANDONED

    async def end_call(self, login: str) -> bool:
        """The agent ends his call (the desk's "end call"): he goes into wrap-up, and the debtor
        hears the campaign's survey if it has one, else is hung up on (an inbound caller too).
        True when a survey was started. AgentError when he has no call of his own (one he was
        only brought into is not his to end), or others are still on it."""
        agent = self._agents.status(login)
        debtor = agent.call_id if agent and agent.state is AgentState.ON_CALL else None
        if debtor is None or self._agents.holder_of(debtor) != login:
            raise AgentError(f"agent {login!r} has no call to end")
        if self._agents.call_goes_on(login):
            raise AgentError("others are still on the call: drop them first")
        request = self._put_through.get(debtor)
        if request is None or request.survey is None or self._surveys is None:
            with contextlib.suppress(ChannelGone):
                await self._ari.hangup(debtor)  # its end puts the agent into wrap-up
            return False
        if not self._agents.ring_per_call and agent and agent.bridge_id:
            try:
                await self._ari.remove_channel(agent.bridge_id, debtor)
            except ChannelGone:
                return False  # he hung up meanwhile: his end puts the agent into wrap-up
        # The call's end, when it comes, is no longer this agent's: he may be on another.
        self._agent_of.pop(debtor, None)
        await self._agents.call_ended(login)
        log.info("call.ended_by_agent", agent=login, survey=True)
        self._surveys.start(debtor, request.survey(), request.campaign)
        return True

    async def on_agent_lost(self, login: str, debtor: str, vanished: bool) -> bool:
        """The agent's softphone went while this debtor was with him. Gone without the agent
        meaning it: the debtor hears the campaign's apology (who called, that we call back)
        and is owed a call back soon; hung up by the agent: the call ends, as it would in
        per-call mode. False for a call the dialer did not put through."""
        request = self._put_through.get(debtor)
        if request is None:
            return False
        if not vanished:
            await self._ari.hangup(debtor)
            return True
        log.warning("call.agent_lost", agent=login)
        await self._promise_callback(debtor, request, "agent_lost", AGENT_LOST_CALLBACK_AFTER)
        await self._apologise_and_hang_up(debtor, "call.agent_lost_message_failed")
        return True

    async def _promise_callback(
        self, channel_id: str, request: CallRequest, source: str, after: timedelta
    ) -> None:
        if request.case_id is None:
            return  # a one-off call: no case to call back
        await self._storage.callbacks.create_callback(
            e164=request.number,
            due_at=datetime.now(UTC) + after,
            source=source,
            case_id=request.case_id,
            priority=5,
            channel_id=channel_id,
        )

    async def _apologise_and_hang_up(self, channel_id: str, failed_event: str) -> None:
        """The campaign's message (who called, that we call back), then the end of the call."""
        with self._ari.subscribe(channel_id) as events:
            try:
                await self._ari.play_to_end(events, channel_id, self._abandon_message, timeout=30)
            except (ChannelGone, TimeoutError):
                pass
            except AriError as error:
                log.error(failed_event, error=str(error))
        await self._ari.hangup(channel_id)

    async def on_orphaned(self, attempt: Attempt) -> None:
        """Found answered after a restart with no agent on it. A machine (as far as AMD had
        said) is hung up; anyone else waited past any agent and is treated as an abandoned
        call: counted, told we call back, and owed that call back."""
        if attempt.amd_status and classify_amd(attempt.amd_status, attempt.amd_cause) in (
            NOT_A_PERSON
        ):
            await self._ari.hangup(attempt.channel_id)
            return
        request = CallRequest(
            attempt.dialled, case_id=attempt.case_id, campaign_id=attempt.campaign_id
        )
        await self._abandon(attempt.channel_id, request)

    async def on_finished(self, request: CallRequest, result: CallResult) -> None:
        self._put_through.pop(result.channel_id, None)
        put_through_to = self._agent_of.pop(result.channel_id, None)
        # Handed over to a colleague meanwhile: his call is the one that ended.
        login = self._agents.holder_of(result.channel_id) or put_through_to
        if login is not None:
            await self._agents.call_ended(login)
        elif request.agent:
            # Only his reservation for this call: he may be held for another by now.
            await self._agents.release(request.agent, result.channel_id)


async def _first_of(
    wanted: Awaitable[_Wanted], interruption: Awaitable[Event]
) -> tuple[_Wanted | None, Event | None]:
    """Await `wanted` unless `interruption` comes first: (result, None) or (None, event). The
    other is cancelled either way."""
    waiting = asyncio.ensure_future(wanted)
    interrupting = asyncio.ensure_future(interruption)
    try:
        await asyncio.wait({waiting, interrupting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiting, interrupting):
            task.cancel()
        await asyncio.gather(waiting, interrupting, return_exceptions=True)
    if interrupting.done() and not interrupting.cancelled() and interrupting.exception() is None:
        return None, interrupting.result()
    return waiting.result(), None
