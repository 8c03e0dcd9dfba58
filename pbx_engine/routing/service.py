"""Inbound calls entering Stasis as `Stasis(app,inbound,CALLER,DID,CASE_ID)`: identified in the
dialplan already; an identified caller gets the debtor menu (balance, agent, callback, promise
date; `ivr.py`) when its prompts are installed; then routed to the case's owner, his team, or
the queue (ACD).

In the queue the caller hears music on hold and, every `announce_every` seconds, how many
callers are ahead of him; the first in line takes the first agent of the team who is ready.
After `max_queue_wait` he is offered a callback (press 1) and the call ends. Every inbound call
is stored with its route, how long the caller waited and how it ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import structlog

from ari_apps.outcomes import Outcome
from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import AgentStatus
from pbx_engine.ari import AriClient, AriError, ChannelGone
from pbx_engine.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    StasisEnd,
    StasisStart,
)
from pbx_engine.ari.stream import Subscription
from pbx_engine.cases.dispositions import (
    Disposition,
    DispositionError,
    DispositionInput,
    next_action,
)
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.config import InboundConfig
from pbx_engine.recording.policy import RecordingMode, RecordingPolicy
from pbx_engine.recording.service import CallRecorder
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.routing.acd import AgentView, Route, route_inbound
from pbx_engine.routing.ivr import DebtorMenu, Leave, Play
from pbx_engine.routing.prompts import prompt_path
from pbx_engine.storage import Storage
from pbx_engine.storage.cases import CaseDossier
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

WELCOME = "sound:pls-hold-while-try"
CALLBACK_OFFER = ["sound:vm-press", "digits:1"]
THANK_YOU = "sound:auth-thankyou"
SORRY = "sound:please-try-call-later"
IVR_CALLBACK_AFTER = timedelta(minutes=10)
# Agents tried for one caller when the one chosen cannot be reached; then the call fails as
# any call whose agent is lost.
_CONNECT_TRIES = 3


class CallerLeft(Exception):
    """The caller hung up."""


class _Line:
    """The callers waiting for one team's agents (anyone's for the team None), in order.

    `moved` is set whenever a caller leaves the line (put through, hung up, offered a
    callback), so the callers behind wake then instead of looking again and again.
    """

    def __init__(self) -> None:
        self.callers: list[str] = []
        self.moved = asyncio.Event()

    def leave(self, channel_id: str) -> None:
        self.callers.remove(channel_id)
        # A fresh event for the next move; whoever waits holds the one just set.
        moved, self.moved = self.moved, asyncio.Event()
        moved.set()


def _no_campaign(campaign_id: int) -> None:
    return None


class InboundService:
    """`campaign_language` and `campaign_recording` answer for the campaigns this engine runs
    (None for others): a caller whose case one of them holds hears its language and is recorded
    as it records; `recorder` None records no inbound call."""

    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        agents: AgentService | None = None,
        config: InboundConfig | None = None,
        *,
        wrap_up_seconds: float = 15.0,
        recorder: CallRecorder | None = None,
        campaign_language: Callable[[int], str | None] = _no_campaign,
        campaign_recording: Callable[[int], RecordingPolicy | None] = _no_campaign,
    ) -> None:
        self._ari = ari
        self._storage = storage
        self._agents = agents
        self._config = config or InboundConfig()
        self._wrap_up_seconds = wrap_up_seconds
        self._recorder = recorder
        self._campaign_language = campaign_language
        self._campaign_recording = campaign_recording
        self._tasks = OwnedTasks()
        self._queues: dict[str | None, _Line] = {}  # team -> its waiting callers
        self.menu_prompts = self._config.menu_prompts
        self.language = self._config.language
        self._agent_of: dict[str, str] = {}  # caller channel -> agent login
        # Sends the case's payment link by SMS (True: it went); set where the engine can
        # text one ([inbound] pay_link_template), and the menu then offers it on 5.
        self.pay_link_sender: Callable[[int], Awaitable[bool]] | None = None

    def accept(self, event: StasisStart) -> None:
        """Called from the event reader: must not block, so the call gets its own task."""
        self._tasks.spawn(self._guarded(event), name=event.channel.id)

    async def close(self) -> None:
        await self._tasks.close()

    async def _guarded(self, start: StasisStart) -> None:
        try:
            await self._handle(start)
        except Exception:
            log.exception("inbound.crashed", channel_id=start.channel.id)
            await self._ari.hangup(start.channel.id)

    async def _handle(self, start: StasisStart) -> None:
        channel_id = start.channel.id
        _, caller, did, case_id = (list(start.args) + ["", "", "", ""])[:4]
        structlog.contextvars.bind_contextvars(channel_id=channel_id, caller=caller, did=did)
        case = int(case_id) if case_id.isdigit() else None
        outcome, ended_by, cause, cause_text = Outcome.HUMAN, "caller", None, None
        with self._ari.subscribe(channel_id) as events:
            await self._storage.attempts.create_attempt(
                channel_id=channel_id,
                direction="inbound",
                dialled=did or "unknown",
                caller_id=caller or None,
                case_id=case,
                node=self._ari.node_of_channel(channel_id),
            )
            log.info("inbound.identified", case_id=case)
            try:
                await self._ari.answer(channel_id)
                answered = datetime.now(UTC)
                await self._storage.attempts.mark_attempt_answered(channel_id, answered)
                if self._agents is None:
                    ended_by = await self._goodbye(channel_id, events)
                else:
                    outcome, ended_by = await self._route(channel_id, events, case, caller)
                end = await events.wait_for((StasisEnd, ChannelDestroyed), timeout=7200)
                if isinstance(end, ChannelDestroyed):
                    cause, cause_text = end.cause, end.cause_txt
            except (ChannelGone, CallerLeft):
                if outcome is Outcome.HUMAN and channel_id not in self._agent_of:
                    outcome = Outcome.ABANDONED  # he gave up before an agent took him
            except TimeoutError:
                await self._ari.hangup(channel_id)
            finally:
                login = self._agent_of.pop(channel_id, None)
                if login is not None and self._agents is not None:
                    login = self._agents.holder_of(channel_id) or login  # handed over?
                    await asyncio.shield(self._agents.call_ended(login))
                await asyncio.shield(
                    self._storage.attempts.finish_attempt(
                        channel_id,
                        ended_at=datetime.now(UTC),
                        hangup_cause=cause,
                        hangup_cause_text=cause_text or f"ended by {ended_by}",
                        outcome=outcome.value,
                    )
                )

    async def _goodbye(self, channel_id: str, events: Subscription) -> str:
        """Without agents (a PBX-only set-up): a greeting, then the engine hangs up."""
        await self._ari.play_to_end(events, channel_id, SORRY, timeout=15)
        await self._ari.hangup(channel_id)
        return "engine"

    # ------------------------------------------------------------------ ACD
    async def _route(
        self, channel_id: str, events: Subscription, case: int | None, caller: str
    ) -> tuple[Outcome, str]:
        assert self._agents is not None
        if case is not None and self.menu_prompts is not None:
            try:
                chosen = await self._menu(channel_id, events, case, caller)
            except Exception as error:
                # His case cannot be read (the database is away): an agent takes him as an
                # unidentified caller rather than the call being lost.
                _reraise_unless_unreachable(error)
                chosen = None
            if chosen is not None:
                return chosen
        owner, team = (None, None)
        if case is not None:
            try:
                found = await self._storage.cases.case_owner(case)
            except Exception as error:
                _reraise_unless_unreachable(error)
                found = None
            if found is not None:
                owner, team = found
        waited_from = asyncio.get_running_loop().time()
        agent, route = await self._put_through(channel_id, events, owner, team)
        waited = asyncio.get_running_loop().time() - waited_from
        if agent is None:
            await self._storage.attempts.record_inbound_route(channel_id, "callback offer", waited)
            return await self._offer_callback(channel_id, events, case, caller)
        self._agent_of[channel_id] = agent.login
        await self._storage.attempts.record_inbound_route(
            channel_id, f"{route.kind}: {agent.login}", waited
        )
        log.info("inbound.connected", agent=agent.login, waited_s=round(waited, 2))
        if self._recorder is not None:
            self._recorder.start_soon(channel_id, await self._recording_policy(case))
        return Outcome.HUMAN, "caller"

    async def _put_through(
        self, channel_id: str, events: Subscription, owner: str | None, team: str | None
    ) -> tuple[AgentStatus | None, Route]:
        """Routes the caller and puts him through to the agent found; routes him again when
        that agent cannot be reached (his phone, or the link to his node, failed). None:
        nobody came."""
        assert self._agents is not None
        agents = self._agents
        tries = 0
        while True:
            route = route_inbound(
                [
                    AgentView(a.login, agents.team_of(a.login), a.state, a.since)
                    for a in agents.all()
                ],
                datetime.now(UTC),
                owner=owner,
                owner_team=team,
                owner_wait=self._config.owner_wait,
                wrap_up_seconds=self._wrap_up_seconds,
            )
            log.info("inbound.route", kind=route.kind, reason=route.reason, agent=route.login)
            agent = await self._first_agent(channel_id, events, route)
            if agent is None:
                return None, route
            agent_id = agents.agent_id(agent.login)
            record = partial(self._storage.attempts.mark_attempt_bridged, channel_id, agent_id)
            try:
                await agents.connect(agent, channel_id, record=record)
                return agent, route
            except (AgentError, ChannelGone) as error:
                await agents.release(agent.login)
                if isinstance(error, ChannelGone):
                    raise CallerLeft from None
                tries += 1
                if tries == _CONNECT_TRIES:
                    raise
                log.warning("inbound.agent_not_reached", agent=agent.login, error=str(error))

    async def _recording_policy(self, case: int | None) -> RecordingPolicy:
        """As the caller's case's campaign records its calls when it runs here, else as the
        `[inbound]` section says."""
        try:
            campaign_id = await self._storage.cases.case_campaign_id(case) if case else None
        except Exception as error:
            _reraise_unless_unreachable(error)
            campaign_id = None
        policy = self._campaign_recording(campaign_id) if campaign_id is not None else None
        if policy is not None:
            return policy
        return RecordingPolicy(
            RecordingMode(self._config.recording), self._config.recording_retention_days
        )

    # ------------------------------------------------------------------ the debtor menu
    async def _menu(
        self, channel_id: str, events: Subscription, case: int, caller: str
    ) -> tuple[Outcome, str] | None:
        """Run the menu; None when the caller wants (or gets) an agent."""
        dossier = await self._storage.cases.case_dossier(case)
        campaign = dossier.campaign_id if dossier else None
        language = (campaign and self._campaign_language(campaign)) or self.language
        menu = DebtorMenu(datetime.now(UTC).date(), pay_link=self.pay_link_sender is not None)
        actions = menu.start()
        while True:
            for action in actions:
                if isinstance(action, Leave):
                    await self._storage.attempts.record_inbound_route(
                        channel_id, f"menu: {action.to}", 0
                    )
                    return await self._menu_choice(
                        channel_id, events, case, caller, action, dossier, language
                    )
            media = [
                m for a in actions if isinstance(a, Play) for m in self._media(a, dossier, language)
            ]
            digit = await self._ask(channel_id, events, media, wait=6.0)
            actions = menu.silence() if digit is None else menu.key(digit)

    def _media(self, play: Play, dossier: CaseDossier | None, language: str) -> list[str]:
        assert self.menu_prompts is not None
        media = []
        for name in play.prompts:
            media.append(prompt_path(self.menu_prompts, name, language))
            if name == "balance":
                amount = Decimal(str((dossier and dossier.amount_owed) or 0))
                currency = (dossier and dossier.currency) or "USD"
                units, minor = int(amount), int((amount - int(amount)) * 100)
                media += [
                    f"number:{units}",
                    prompt_path(self.menu_prompts, currency, language),
                ]
                if minor:
                    media += [
                        prompt_path(self.menu_prompts, "and", language),
                        f"number:{minor}",
                        prompt_path(self.menu_prompts, f"{currency}_minor", language),
                    ]
        return media

    async def _ask(
        self, channel_id: str, events: Subscription, media: list[str], *, wait: float
    ) -> str | None:
        """Play `media` (a key cuts it short) and return the first key pressed, during it or
        within `wait` seconds after; None for silence. CallerLeft if he hangs up."""
        try:
            return await self._ari.ask_key(events, channel_id, media, wait=wait)
        except ChannelGone:
            raise CallerLeft from None

    async def _menu_choice(
        self,
        channel_id: str,
        events: Subscription,
        case: int,
        caller: str,
        leave: Leave,
        dossier: CaseDossier | None,
        language: str,
    ) -> tuple[Outcome, str] | None:
        assert self.menu_prompts is not None
        if leave.to == "agent":
            return None
        if leave.to == "callback":
            owner = await self._storage.cases.case_owner_id(case)
            await self._storage.callbacks.create_callback(
                e164=caller,
                due_at=datetime.now(UTC) + IVR_CALLBACK_AFTER,
                source="ivr",
                case_id=case,
                owner_agent_id=owner,
                channel_id=channel_id,
            )
            log.info("inbound.menu_callback", case_id=case)
            goodbye = "callback_booked"
        elif leave.to == "pay_link":
            assert self.pay_link_sender is not None
            sent = await self.pay_link_sender(case)
            log.info("inbound.menu_pay_link", case_id=case, sent=sent)
            if not sent:
                # An agent takes it from here: he can give the link, or take the payment.
                with contextlib.suppress(AriError, TimeoutError):
                    await self._ari.play_to_end(
                        events,
                        channel_id,
                        prompt_path(self.menu_prompts, "pay_link_failed", language),
                        timeout=20,
                    )
                return None
            goodbye = "pay_link_sent"
        else:
            given = DispositionInput(
                Disposition.PROMISE_TO_PAY,
                promise_amount=Decimal(str((dossier and dossier.amount_owed) or 0)) or None,
                promise_date=leave.promise_date,
                note="promised in the phone menu",
            )
            try:
                zone = debtor_zones(dossier and dossier.timezone, caller, "UTC")[0]
                update = next_action(given, datetime.now(UTC), zone)
            except (DispositionError, ValueError) as error:
                log.warning("inbound.menu_promise_refused", error=str(error))
                return None  # an agent sorts it out
            await self._storage.cases.record_disposition(channel_id, None, given, update)
            log.info("inbound.menu_promise", case_id=case, date=str(leave.promise_date))
            goodbye = "promise_thanks"
        with contextlib.suppress(AriError, TimeoutError):
            await self._ari.play_to_end(
                events,
                channel_id,
                prompt_path(self.menu_prompts, goodbye, language),
                timeout=20,
            )
        await self._ari.hangup(channel_id)
        return Outcome.HUMAN, "engine"

    async def _first_agent(
        self, channel_id: str, events: Subscription, route: Route
    ) -> AgentStatus | None:
        assert self._agents is not None
        # Agents on the caller's Asterisk node can take him, and those a node link reaches
        # (an owner no link reaches is not waited for: the caller queues here).
        node = self._ari.node_of_channel(channel_id)
        reachable = route.login is not None and self._agents.reaches(route.login, node)
        if route.kind == "agent" and route.login and reachable:
            claimed = await self._agents.claim(route.login)
            if claimed is not None:
                return claimed
        if route.kind == "wait_for_owner" and route.login and reachable:
            await self._ari.start_channel_moh(channel_id)
            owner = await self._agents.wait_for_ready(route.wait_seconds, {route.login}, node=node)
            if owner is not None:
                await self._ari.stop_channel_moh(channel_id)
                return owner
        return await self._queue(channel_id, events, route.team)

    async def _queue(
        self, channel_id: str, events: Subscription, team: str | None
    ) -> AgentStatus | None:
        """Wait in line for an agent of `team` (anyone's when None), hearing music and the
        number of callers ahead; None when the wait is over."""
        assert self._agents is not None
        line = self._queues.setdefault(team, _Line())
        line.callers.append(channel_id)
        loop = asyncio.get_running_loop()
        started = loop.time()
        announced = started
        try:
            await self._ari.play_to_end(events, channel_id, WELCOME, timeout=10)
            await self._ari.start_channel_moh(channel_id)
            while loop.time() - started < self._config.max_queue_wait:
                self._check_caller(events)
                if line.callers[0] == channel_id:
                    # The timeout is how often the first caller's hang-up is looked for: the
                    # claim of an agent must not be cancelled half-way to race it.
                    logins = self._team_logins(team)
                    agent = await self._agents.wait_for_ready(
                        0.5, logins, node=self._ari.node_of_channel(channel_id)
                    )
                    if agent is not None:
                        await self._ari.stop_channel_moh(channel_id)
                        return agent
                else:
                    wake_at = min(
                        announced + self._config.announce_every,
                        started + self._config.max_queue_wait,
                    )
                    await self._wait_behind(line.moved, events, wake_at - loop.time())
                if loop.time() - announced >= self._config.announce_every:
                    announced = loop.time()
                    await self._announce(channel_id, events, line.callers.index(channel_id))
            return None
        finally:
            line.leave(channel_id)

    @staticmethod
    async def _wait_behind(moved: asyncio.Event, events: Subscription, timeout: float) -> None:
        """A caller behind others waits until the line moves or `timeout` passes; CallerLeft as
        soon as he hangs up (other events do not matter while he waits)."""
        if timeout <= 0:
            return
        hung_up = events.wait_for((ChannelDestroyed, StasisEnd), timeout=timeout)
        left = asyncio.ensure_future(hung_up)
        ahead_left = asyncio.ensure_future(moved.wait())
        try:
            await asyncio.wait((left, ahead_left), timeout=timeout, return_when=FIRST_COMPLETED)
        finally:
            for waiter in (left, ahead_left):
                waiter.cancel()
            await asyncio.gather(left, ahead_left, return_exceptions=True)
        if not left.cancelled() and left.exception() is None:
            raise CallerLeft

    def _team_logins(self, team: str | None) -> set[str] | None:
        assert self._agents is not None
        if team is None:
            return None
        return {a.login for a in self._agents.all() if self._agents.team_of(a.login) == team}

    def _check_caller(self, events: Subscription) -> None:
        """Raise CallerLeft if the caller has hung up meanwhile (other events do not matter
        while he waits in line)."""
        if any(isinstance(e, ChannelDestroyed | StasisEnd) for e in events.drain()):
            raise CallerLeft

    async def _announce(self, channel_id: str, events: Subscription, ahead: int) -> None:
        media = (
            ["sound:queue-youarenext"]
            if ahead == 0
            else ["sound:queue-thereare", f"digits:{ahead}", "sound:queue-callswaiting"]
        )
        await self._ari.stop_channel_moh(channel_id)
        with contextlib.suppress(AriError, TimeoutError):
            await self._ari.play_to_end(events, channel_id, media, timeout=15)
        await self._ari.start_channel_moh(channel_id)

    async def _offer_callback(
        self, channel_id: str, events: Subscription, case: int | None, caller: str
    ) -> tuple[Outcome, str]:
        """The wait is over: press 1 and we call you back (as soon as an agent is free)."""
        await self._ari.stop_channel_moh(channel_id)
        if not self._config.offer_callback or not caller:
            await self._ari.play_to_end(events, channel_id, SORRY, timeout=15)
            await self._ari.hangup(channel_id)
            return Outcome.HUMAN, "engine"
        await self._ari.play(channel_id, CALLBACK_OFFER)
        try:
            pressed = await events.wait_for(
                (ChannelDtmfReceived, ChannelDestroyed, StasisEnd), timeout=6
            )
        except TimeoutError:
            pressed = None
        if isinstance(pressed, ChannelDestroyed | StasisEnd):
            raise CallerLeft
        if isinstance(pressed, ChannelDtmfReceived) and pressed.digit == "1":
            await self._storage.callbacks.create_callback(
                e164=caller,
                due_at=datetime.now(UTC),
                source="queue",
                case_id=case,
                owner_agent_id=await self._storage.cases.case_owner_id(case) if case else None,
                channel_id=channel_id,
            )
            log.info("inbound.callback_requested", case_id=case)
            await self._ari.play_to_end(events, channel_id, THANK_YOU, timeout=10)
        await self._ari.hangup(channel_id)
        return Outcome.HUMAN, "engine"


def _reraise_unless_unreachable(error: Exception) -> None:
    """A read that failed for want of a database is logged and done without; any other
    failure is a bug and goes on up."""
    if not is_unreachable(error):
        raise error
    log.warning("inbound.read_skipped", error=str(error) or type(error).__name__)
