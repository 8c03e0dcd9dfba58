"""Putting live debtors through to agents, and the abandon guard when none is free.

A person judged HUMAN goes into the bridge of the agent reserved for the call, or of the first
agent to become ready within `abandon_wait` seconds (2 s, the regulators' limit); failing that
he hears the abandon message (who called, how to call back) and the call counts as abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import structlog

from ari_apps.outbound_call import Verdict
from ari_apps.outcomes import NOT_A_PERSON, Outcome, classify_amd
from ari_apps.screening_call import (
    SILENT_CAUSE,
    AfterGreeting,
    HangUp,
    Listen,
    MarkScreened,
    PlaySound,
    PutThrough,
)
from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import AgentState, longest_idle
from pbx_engine.amd.beep import GoReason
from pbx_engine.amd.detectors import MESSAGE_DROP_CONTEXT, DetectorKind
from pbx_engine.amd.live import EngineDetector
from pbx_engine.ari import AriClient, AriError, AriUnavailable, ChannelGone, Subscription
from pbx_engine.ari.events import ChannelDestroyed, Event, PlaybackFinished, StasisEnd
from pbx_engine.ari.media import as_media
from pbx_engine.dialer.elsewhere import HANDED, AgentsElsewhere
from pbx_engine.dialer.service import CallRequest, CallResult, HandedTo
from pbx_engine.dialer.takeover import out_of_reach
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
# Seconds a listening may run past its deadline: a reply begun just before it is judged (a
# person's greeting needs its pause after it), not cut off as silence.
LISTEN_GRACE = 2.0


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
        elsewhere: AgentsElsewhere | None = None,
        campaign_request: Callable[[Attempt], CallRequest] | None = None,
    ) -> None:
        # Other engines' agents: a person no agent here can take is handed to one's engine.
        self._elsewhere = elsewhere
        # The request a call handed here is handled under (its campaign's recording, survey).
        self._campaign_request = campaign_request or CallRequest.on_record
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
    ) -> Outcome | HandedTo | None:
        if verdict.outcome in NOT_A_PERSON:
            if request.agent:
                await self._agents.release(request.agent, channel_id)
            answered_by_machine = verdict.outcome is Outcome.MACHINE
            if answered_by_machine and (request.machine_message or request.screening):
                return await self._after_machine_verdict(channel_id, request, verdict)
            await self._ari.hangup(channel_id)
            return None
        return await self._put_person_through(channel_id, request, verdict.at)

    async def _put_person_through(
        self, channel_id: str, request: CallRequest, judged_at: datetime, *, handed: bool = False
    ) -> Outcome | HandedTo | None:
        """Into the bridge of the agent reserved for him, or of a ready one; else, with none
        here, handed to another engine with a ready agent (unless `handed` here already), or
        put through to the first agent here to become ready within the abandon wait (from
        the verdict); else the abandon message. ABANDONED or HandedTo then, else None."""
        agent = self._agents.status(request.agent) if request.agent else None
        agent_was_free = agent is not None and agent.held_for(channel_id)
        if not agent_was_free:
            # An agent on the debtor's Asterisk node, else one a node link reaches.
            node = self._ari.node_of_channel(channel_id)
            agent_was_free = longest_idle(self._agents.on(node, linked=True)) is not None
            if not agent_was_free and not handed and request.agent is None:
                try:
                    engine = await self._hand_off(channel_id, judged_at)
                except ChannelGone:
                    return None  # he hung up; his ChannelDestroyed settles the call
                if engine is not None:
                    return HandedTo(engine)
            waited = min(max((_now() - judged_at).total_seconds(), 0.0), self._abandon_wait)
            agent = await self._agents.wait_for_ready(self._abandon_wait - waited, node=node)
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
        dead_air = (bridged_at - judged_at).total_seconds()
        self._metrics.dead_air(request.campaign, dead_air, agent_was_free=agent_was_free)
        log.info("call.bridged", agent=agent.login, after_verdict_ms=round(dead_air * 1000, 1))
        if request.recording is not None and self._recorder is not None:
            self._recorder.start_soon(channel_id, request.recording, request.campaign)
        return None

    async def _hand_off(self, channel_id: str, judged_at: datetime) -> str | None:
        """The person to the engine of the longest-ready agent elsewhere, if its app is on his
        channel's node: the call is made that engine's on record, then his channel is moved
        into its app, which puts him through. That engine's name, or None (he stays here,
        and his call with this engine)."""
        engine = self._storage.attempts.engine
        there = await self._elsewhere.ready_now() if self._elsewhere and engine else None
        if there is None:
            return None
        try:
            if not await self._ari.app_beside(there.app, channel_id):
                return None
            if not await self._storage.attempts.hand_to(channel_id, there.engine):
                return None
        except Exception as error:
            if not out_of_reach(error):
                raise
            log.warning("call.not_handed", engine=there.engine, error=str(error))
            return None
        try:
            await self._ari.move(
                channel_id, app=there.app, app_args=[HANDED, f"{judged_at.timestamp():.3f}"]
            )
        except (AriError, AriUnavailable) as error:
            # Still ours (gone, or still here waiting): back on record as this engine's.
            with contextlib.suppress(Exception):  # else settled as lost by whoever follows it
                await self._storage.attempts.hand_to(channel_id, engine, by=there.engine)
            if isinstance(error, ChannelGone):
                raise
            log.warning("call.not_handed", engine=there.engine, error=str(error))
            return None
        log.info("call.handed", engine=there.engine, ready_agent=there.login)
        self._elsewhere.handed(there, _now())
        return there.engine

    async def on_handed(self, attempt: Attempt, judged_at: datetime) -> CallRequest:
        """A person another engine handed here: put through to an agent of this engine (none
        free: the abandon wait's rest, from his verdict), else abandoned, as there."""
        request = self._campaign_request(attempt)
        log.info("call.handed_in", channel_id=attempt.channel_id, campaign=request.campaign)
        await self._put_person_through(attempt.channel_id, request, judged_at, handed=True)
        return request

    async def _after_machine_verdict(
        self, channel_id: str, request: CallRequest, verdict: Verdict
    ) -> Outcome | HandedTo | None:
        """After the engine detector's MACHINE verdict its listening goes on until the
        greeting is over, and what follows (`AfterGreeting`) is done here. Otherwise the
        dialplan waits for the greeting's end, plays the message, and sends the call back with
        `message` arguments (the call's state machine takes it from there); call screening
        needs the engine's listener, so the dialplan's detectors leave the machine message."""
        detector = self._engine_detector
        if detector is not None and verdict.heard_by is DetectorKind.ENGINE:
            return await self._after_greeting(detector, channel_id, request)
        if not request.machine_message:
            await self._ari.hangup(channel_id)
            return None
        try:
            await self._ari.set_variable(channel_id, "ENGINE_MESSAGE", request.machine_message)
            await self._ari.continue_in_dialplan(
                channel_id, context=MESSAGE_DROP_CONTEXT, extension="s", priority=1
            )
        except AriError as error:
            log.error("call.message_drop_failed", error=str(error))
            await self._ari.hangup(channel_id)
        return None

    async def _after_greeting(
        self, detector: EngineDetector, channel_id: str, request: CallRequest
    ) -> Outcome | HandedTo | None:
        """The call stays in Stasis: wait for the beep listener's go (or the line to hang up),
        then follow `AfterGreeting`: play the message, or the identity line and listen for a
        call-screening assistant's reply and for the person behind it. Returns the call's
        outcome where it is not the verdict's (screened; a person put through or abandoned)."""
        flow = AfterGreeting(request.machine_message, request.screening)
        with self._ari.subscribe(channel_id) as events:
            try:
                person = await self._follow(flow, detector, events, channel_id, request)
            except (ChannelGone, TimeoutError):
                log.info("call.gone_after_greeting")
                person = False
            except (AriError, AriUnavailable) as error:
                log.error("call.message_drop_failed", error=str(error))
                person = False
            finally:
                await detector.stop_watching(channel_id)
        outcome = Outcome.SCREENED if flow.screened else None
        if not person:
            await self._ari.hangup(channel_id)  # False, and no harm, when it is gone
            return outcome
        settled = await self._put_person_through(channel_id, request, datetime.now(UTC))
        return settled or Outcome.HUMAN

    async def _follow(
        self,
        flow: AfterGreeting,
        detector: EngineDetector,
        events: Subscription,
        channel_id: str,
        request: CallRequest,
    ) -> bool:
        """Carry out `flow`'s actions from the greeting's end; True when the person came to
        the phone (to be put through), False when the call is to end."""
        # Gone between the verdict and the subscription: no event would say so.
        if await self._ari.get_channel(channel_id) is None:
            log.info("call.gone_during_greeting")
            return False
        over, gone = await _unless_gone(detector.greeting_over(channel_id), events)
        if gone is not None or over is None:
            log.info("call.gone_during_greeting")
            return False
        log.info("call.greeting_over", by=over.reason.value, beep_ms=over.beep_ms)
        # The snoop has nothing more to hear: a reply is listened to afresh.
        await detector.stop_watching(channel_id)
        learned = request.amd_detector.learned if request.amd_detector else False
        loop = asyncio.get_running_loop()
        pending = deque(flow.greeting_ended(beep=over.reason is GoReason.BEEP))
        while pending:
            match pending.popleft():
                case PlaySound(sound=sound):
                    if not await self._play_message(events, channel_id, sound):
                        return False
                    pending.extend(flow.played(loop.time()))
                case Listen(until=until):
                    heard = await _listen_once(
                        detector, events, channel_id, learned, until - loop.time()
                    )
                    if heard is None:
                        log.info("call.gone_while_listening", screened=flow.screened)
                        return False
                    status, cause, onset_ms = heard
                    pending.extend(flow.heard(status, cause, loop.time(), onset_ms))
                case MarkScreened():
                    log.info("call.screened")
                    await self._storage.attempts.mark_attempt_screened(
                        channel_id, datetime.now(UTC)
                    )
                case PutThrough():
                    log.info("call.person_after_screening")
                    return True
                case HangUp():
                    return False
        return False

    async def _play_message(self, events: Subscription, channel_id: str, sound: str) -> bool:
        """Play `sound` to its end and put it on record as the message left; False when the
        line hung up first (a message cut short is not on record, as with the dialplan's)."""
        started_at = datetime.now(UTC)
        playback = await self._ari.play(channel_id, as_media(sound))
        ended = await events.wait_for(
            (PlaybackFinished, StasisEnd, ChannelDestroyed),
            lambda e: not isinstance(e, PlaybackFinished) or e.playback.id == playback.id,
            timeout=LONGEST_MESSAGE,
        )
        if not isinstance(ended, PlaybackFinished):
            log.info("call.gone_during_message")
            return False
        log.info("call.message_left")
        await self._storage.attempts.record_message(channel_id, started_at, datetime.now(UTC))
        return True

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
                await self._agents.take_out(agent.bridge_id, debtor)
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
        await self._abandon(attempt.channel_id, CallRequest.on_record(attempt))

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


def _now() -> datetime:
    return datetime.now(UTC)


async def _listen_once(
    detector: EngineDetector, events: Subscription, channel_id: str, learned: bool, seconds: float
) -> tuple[str, str, int | None] | None:
    """One verdict on what the line says next (status, cause, speech onset), silence when
    `seconds` (and a grace, for speech begun just before them) pass first; None when the line
    hangs up (a listener cut off that way would give a verdict on nothing)."""
    try:
        async with asyncio.timeout(max(seconds, 0.0) + LISTEN_GRACE):
            verdict, gone = await _unless_gone(detector.listen(channel_id, learned=learned), events)
    except TimeoutError:
        return "MACHINE", f"{SILENT_CAUSE}-deadline", None
    if gone is not None or verdict is None:
        return None
    return verdict.status, verdict.cause, verdict.onset_ms


async def _unless_gone(
    wanted: Awaitable[_Wanted], events: Subscription
) -> tuple[_Wanted | None, Event | None]:
    """`wanted`, unless the call leaves first (hangs up, or leaves Stasis)."""
    return await _first_of(
        wanted, events.wait_for((ChannelDestroyed, StasisEnd), timeout=LONGEST_MESSAGE)
    )


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
