"""Agent sessions on the PBX: the softphone leg in the agent's bridge, and every state change.

Each logged-in agent has a mixing bridge of his own holding his softphone's channel for the
shift. A debtor is added to that bridge the moment he is judged a person: no ringing, no delay.
With `ring_per_call` the agent has no shift-long call: for each debtor the engine makes a bridge,
rings the agent's softphone and joins the two when he answers; the call ends for both when
either hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog

from pbx_engine.agents.states import AgentState, AgentStatus, longest_idle
from pbx_engine.ari import AriClient, AriError, AriUnavailable, ChannelGone
from pbx_engine.ari.calls import NotAnswered, ring_into_app
from pbx_engine.ari.dialstrings import endpoint_dial_string
from pbx_engine.ari.events import ChannelDestroyed, ChannelDtmfReceived, StasisEnd
from pbx_engine.ari.node_links import LinkFailed, NodeLinks
from pbx_engine.ari.nodes import on_node
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.storage import Storage
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

# Agents' calls are mixed by Asterisk itself, never natively bridged: RTP passed straight
# between two legs would carry the agent's keys past the engine, and feature codes need them.
AGENT_BRIDGE = "mixing,dtmf_events"


# Writes a call down as the connected agent's, given when he had it (see `connect`).
OnRecord = Callable[[datetime], Awaitable[None]]
# (login, debtor channel, vanished) -> whether the listener took care of the debtor.
PhoneLostListener = Callable[[str, str, bool], Awaitable[bool]]
# Q.850 causes of a phone hung up by hand; anything else (Asterisk's "no RTP" timeout among
# them) is a phone that went without its agent meaning it to.
HUNG_UP_BY_HAND = frozenset({16, 31})


class AgentError(Exception):
    """An agent request that cannot be met (unknown login, no softphone, wrong state)."""


def _now() -> datetime:
    return datetime.now(UTC)


class AgentService:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        *,
        wrap_up_seconds: float = 15.0,
        answer_timeout: float = 20.0,
        ring_per_call: bool = False,
        links: NodeLinks | None = None,
    ) -> None:
        self._ari = ari
        self._storage = storage
        # How a debtor reaches an agent's bridge on another node (none: same node only).
        self._links = links or NodeLinks(ari, {}, "")
        self._wrap_up_seconds = wrap_up_seconds
        self._answer_timeout = answer_timeout
        self.ring_per_call = ring_per_call
        self._agents: dict[str, AgentStatus] = {}
        self._ids: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._tasks = OwnedTasks()
        self._leg_watches: dict[str, asyncio.Task] = {}  # softphone leg -> its watch
        self._talked: dict[str, float] = {}  # login -> seconds on the call he is wrapping up
        self._endpoints: dict[str, str] = {}  # login -> his softphone's PJSIP endpoint
        self._teams: dict[str, str | None] = {}
        self._handle_listeners: list[Callable[[str, float, float], None]] = []
        self._dtmf_listeners: list[Callable[[str, str], None]] = []
        self._state_listeners: list[Callable[[AgentStatus, AgentState], None]] = []
        self._phone_lost_listeners: list[PhoneLostListener] = []
        # Whether an agent's call goes on after the debtor left (third parties still on it).
        self.call_goes_on: Callable[[str], bool] = lambda login: False
        self._lent: dict[str, str] = {}  # login -> the bridge his leg was lent to

    def on_call_handled(self, listener: Callable[[str, float, float], None]) -> None:
        """Call `listener(login, talk_seconds, wrap_seconds)` whenever an agent leaves wrap-up:
        pacing learns from it how long calls keep agents busy."""
        self._handle_listeners.append(listener)

    def on_state_change(self, listener: Callable[[AgentStatus, AgentState], None]) -> None:
        """Call `listener(status, state_before)` on every change of an agent's state, as soon
        as it is made in memory (browsers are told before the change is stored)."""
        self._state_listeners.append(listener)

    def _tell_state(self, agent: AgentStatus, before: AgentState) -> None:
        for listener in self._state_listeners:
            try:
                listener(agent, before)
            except Exception:
                log.exception("agent.state_listener_failed", agent=agent.login)

    def on_phone_lost(self, listener: PhoneLostListener) -> None:
        """Await `listener(login, debtor_channel, vanished)` when an agent's softphone leg
        goes while a debtor is with him; it returns whether it took care of the debtor (the
        flow that put him through knows what he is owed). `vanished`: the phone went without
        hanging up (no audio any more, a crash), not by the agent's hand. A debtor nobody
        takes care of is hung up on: never left in silence with nobody on the line."""
        self._phone_lost_listeners.append(listener)

    async def _debtor_left_alone(self, login: str, debtor: str, vanished: bool) -> None:
        for listener in self._phone_lost_listeners:
            try:
                if await listener(login, debtor, vanished):
                    return
            except Exception:
                log.exception("agent.phone_lost_listener_failed", agent=login)
        await self._ari.hangup(debtor)

    def on_dtmf(self, listener: Callable[[str, str], None]) -> None:
        """Call `listener(login, digit)` for every key an agent presses on his softphone
        (feature codes during a call)."""
        self._dtmf_listeners.append(listener)

    def _dtmf(self, login: str, event: ChannelDtmfReceived) -> None:
        for listener in self._dtmf_listeners:
            try:
                listener(login, event.digit)
            except Exception:
                log.exception("agent.dtmf_listener_failed", agent=login)

    async def close(self) -> None:
        await self._tasks.close()
        for agent in list(self._agents.values()):
            if agent.channel_id:
                await self._ari.hangup(agent.channel_id)
            if agent.bridge_id:
                await self._ari.destroy_bridge(agent.bridge_id)

    # ------------------------------------------------------------------ queries
    def status(self, login: str) -> AgentStatus | None:
        return self._agents.get(login)

    def all(self) -> list[AgentStatus]:
        return list(self._agents.values())

    def team_of(self, login: str) -> str | None:
        return self._teams.get(login)

    async def claim(self, login: str) -> AgentStatus | None:
        """Hold this agent for a call if he is ready (None if he is not, or no longer)."""
        agent = self._agents.get(login)
        if agent is None or agent.state is not AgentState.READY:
            return None
        await self._apply(agent, "reserve")
        return agent

    def agent_id(self, login: str) -> int:
        return self._ids[login]

    def login_of(self, agent_id: int) -> str | None:
        """The login of a logged-in agent with this id (None if none is)."""
        return next((login for login, known in self._ids.items() if known == agent_id), None)

    # ------------------------------------------------------------------ transitions
    async def _apply(
        self,
        agent: AgentStatus,
        event: str,
        *,
        reason: str | None = None,
        channel_id: str | None = None,
    ) -> None:
        before, since = agent.state, agent.since
        now = _now()
        agent.apply(event, now, reason=reason)
        if since is not None and before is not agent.state:
            self._note_handling(agent.login, before, agent.state, (now - since).total_seconds())
        log.info(
            "agent.state",
            agent=agent.login,
            frm=before.value,
            to=agent.state.value,
            on=event,
            reason=reason,
        )
        self._tell_state(agent, before)
        await asyncio.shield(
            self._storage.agents.record_agent_state(
                self._ids[agent.login],
                agent.state.value,
                now,
                reason=reason,
                channel_id=channel_id or agent.call_id,
            )
        )
        if agent.state is AgentState.LOGGED_OUT and before is not AgentState.LOGGED_OUT:
            await self._let_go(agent.login)
        async with self._changed:
            self._changed.notify_all()

    def _note_handling(
        self, login: str, before: AgentState, after: AgentState, seconds: float
    ) -> None:
        if before is AgentState.ON_CALL and after is AgentState.WRAP_UP:
            self._talked[login] = seconds
        elif before is AgentState.WRAP_UP:
            talked = self._talked.pop(login, None)
            if talked is None:
                return
            for listener in self._handle_listeners:
                try:
                    listener(login, talked, seconds)
                except Exception:
                    log.exception("agent.handle_listener_failed", agent=login)

    async def login(self, login: str, endpoint: str | None = None) -> AgentStatus:
        """Call the agent's softphone (or `endpoint`: his browser phone) and keep it in his
        bridge; READY once he answers. Refused while another engine holds him."""
        row = await self._storage.agents.get_agent(login)
        if row is None:
            raise AgentError(f"no agent with login {login!r}")
        endpoint = endpoint or row.sip_endpoint
        if not endpoint:
            raise AgentError(f"agent {login!r} has no softphone (sip_endpoint) configured")
        agent = self._agents.get(login) or AgentStatus(login)
        if agent.state is not AgentState.LOGGED_OUT:
            raise AgentError(f"agent {login!r} is logged in already ({agent.state.value})")
        await self._hold(row.id, login)
        self._agents[login] = agent
        self._ids[login] = row.id
        self._teams[login] = row.team
        self._endpoints[login] = endpoint
        await self._apply(agent, "login")
        if self.ring_per_call:
            # Nothing to call now: his phone rings with each debtor.
            await self._apply(agent, "phone_answered", reason="rung per call")
            return agent
        leg_id = f"agent-{login}-{uuid.uuid4().hex[:12]}"
        bridge_id = f"agent-{login}-{uuid.uuid4().hex[:8]}"
        events = self._ari.subscribe(leg_id)
        try:
            # His leg and bridge on the node his softphone is registered on (where it can be
            # rung), else on the one with most room.
            with on_node(await self._ari.endpoint_node(endpoint)):
                # The phone first, then his bridge: an agent's bridge without his leg is then
                # one whose leg is gone (another engine starting on this PBX may remove it),
                # never one still being made.
                await self._ring(login, endpoint, leg_id, events)
                agent.channel_id = leg_id
                await self._ari.create_bridge(
                    bridge_type=AGENT_BRIDGE, bridge_id=bridge_id, name=f"agent {login}"
                )
                agent.bridge_id = bridge_id
                await self._ari.add_channel(bridge_id, leg_id)
        except (AgentError, AriError, AriUnavailable, TimeoutError) as error:
            events.close()
            await self._ari.hangup(leg_id)
            await self._ari.destroy_bridge(bridge_id)
            agent.bridge_id = agent.channel_id = None
            await self._apply(agent, "phone_lost", reason=str(error) or "no answer")
            if isinstance(error, AgentError):
                raise
            raise AgentError(f"agent {login!r} could not be connected: {error}") from None
        await self._apply(agent, "phone_answered")
        self._watch_leg_soon(agent, events)
        return agent

    async def login_from_phone(self, channel_id: str, sip_endpoint: str) -> AgentStatus | None:
        """The agent dialled the login feature code: his own call becomes the shift's leg.

        An endpoint that belongs to no agent, or an agent logged in already, hears an error
        tone and is hung up on; the session itself is the same as an API login's."""
        row = await self._storage.agents.agent_by_endpoint(sip_endpoint)
        agent = self._agents.get(row.login) if row else None
        if row is None or (agent is not None and agent.state is not AgentState.LOGGED_OUT):
            why = "no agent has this softphone" if row is None else "logged in already"
            log.warning("agent.phone_login_refused", endpoint=sip_endpoint, reason=why)
            await self._refuse(channel_id)
            return None
        try:
            await self._hold(row.id, row.login)
        except AgentError as error:
            log.warning("agent.phone_login_refused", endpoint=sip_endpoint, reason=str(error))
            await self._refuse(channel_id)
            return None
        agent = agent or AgentStatus(row.login)
        self._agents[row.login] = agent
        self._ids[row.login] = row.id
        self._teams[row.login] = row.team
        self._endpoints[row.login] = sip_endpoint
        await self._apply(agent, "login", reason="feature code")
        if self.ring_per_call:
            # His phone will ring with each debtor: this call only says he is there.
            await self._apply(agent, "phone_answered", reason="rung per call")
            self._tasks.spawn(self._confirm_and_hang_up(channel_id))
            return agent
        bridge_id = f"agent-{row.login}-{uuid.uuid4().hex[:8]}"
        events = self._ari.subscribe(channel_id)
        try:
            await self._ari.answer(channel_id)
            await self._ari.create_bridge(
                bridge_type=AGENT_BRIDGE, bridge_id=bridge_id, name=f"agent {row.login}"
            )
            agent.bridge_id = bridge_id
            agent.channel_id = channel_id
            await self._ari.add_channel(bridge_id, channel_id)
        except AriError as error:  # ChannelGone included: he hung up at once
            events.close()
            await self._ari.hangup(channel_id)
            await self._ari.destroy_bridge(bridge_id)
            agent.bridge_id = agent.channel_id = None
            await self._apply(agent, "phone_lost", reason=f"could not be connected: {error}")
            return None
        await self._apply(agent, "phone_answered")
        self._tasks.spawn(self._confirm(channel_id))
        self._watch_leg_soon(agent, events)
        return agent

    async def _hold(self, agent_id: int, login: str) -> None:
        """On record, this engine holds the agent from now on (AgentError: another engine that
        runs holds him; his desk and phone are that engine's until he logs out there)."""
        engine = self._storage.engine
        if engine is None:
            return  # an engine with no name to hold agents under (a lone test service)
        other = await self._storage.agent_holders.hold(agent_id, engine)
        if other is not None:
            raise AgentError(f"agent {login!r} is logged in on engine {other!r}")

    async def hold_only(self, logins: list[str]) -> None:
        """At start: this engine holds these agents (adopted) and lets go of every other one
        its earlier run held (their legs are gone with it)."""
        engine = self._storage.engine
        if engine is not None:
            ids = [self._ids[login] for login in logins]
            let_go = await self._storage.agent_holders.keep_only(engine, ids)
            if let_go:
                log.info("agent.holds_let_go", agents=let_go)

    async def _let_go(self, login: str) -> None:
        """Logged out: any engine may hold him now."""
        engine = self._storage.engine
        if engine is None:
            return
        try:
            await self._storage.agent_holders.let_go(self._ids[login], engine)
        except Exception as error:
            if not is_unreachable(error):
                raise
            # Still held here on record: he logs in here again, or anywhere once this engine's
            # run ends or is taken over.
            log.warning("agent.hold_not_let_go", agent=login, error=str(error))

    async def _confirm(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self._ari.play(channel_id, "sound:beep")

    async def _confirm_and_hang_up(self, channel_id: str) -> None:
        with contextlib.suppress(AriError, TimeoutError):
            await self._ari.answer(channel_id)
            with self._ari.subscribe(channel_id) as events:
                await self._ari.play_to_end(events, channel_id, "sound:beep", timeout=5)
        await self._ari.hangup(channel_id)

    async def refuse(self, channel_id: str) -> None:
        """Answer a softphone's call we have nothing for with an error tone, and hang up."""
        await self._refuse(channel_id)

    async def _refuse(self, channel_id: str) -> None:
        with contextlib.suppress(AriError, TimeoutError):
            await self._ari.answer(channel_id)
            with self._ari.subscribe(channel_id) as events:
                await self._ari.play_to_end(events, channel_id, "sound:beeperr", timeout=5)
        await self._ari.hangup(channel_id)

    async def adopt_sessions(self, from_app: str | None = None) -> list[str]:
        """After the engine restarts from a crash: agents whose softphone leg is still up in
        their bridge (Asterisk kept both) are taken back as they were, ready or paused, or on
        the call still in the bridge. With `from_app`, another engine's agents are taken over
        (that engine is gone): those whose leg is in its ARI app, heard by ours from now on.
        Returns their logins."""
        adopted = []
        channels = {c.id: c for c in await self._ari.list_channels()}
        for bridge in await self._ari.list_bridges():
            login = bridge.name.removeprefix("agent ") if bridge.name.startswith("agent ") else ""
            known = self._agents.get(login)
            if not login or (known is not None and known.state is not AgentState.LOGGED_OUT):
                continue
            legs = [c for c in bridge.channels if c.startswith(f"agent-{login}-")]
            if not legs and any(c.startswith(f"agent-{login}-") for c in channels):
                continue  # his phone is being rung into it (a login under way), not stale
            app = channels[legs[0]].dialplan.stasis_app() if legs and legs[0] in channels else None
            if from_app is not None and (app != from_app or not legs):
                continue  # only the gone engine's agents (its stale bridges are its own)
            if from_app is None and app not in (None, self._ari.app):
                continue  # another engine's agent on this PBX (in its own ARI app)
            if from_app is not None and not await self._ari.subscribe_app_to_channel(legs[0]):
                continue  # he hung up meanwhile
            row = await self._storage.agents.get_agent(login)
            if not legs or row is None:
                log.warning("agent.stale_bridge", bridge_id=bridge.id, agent=login)
                await self._ari.destroy_bridge(bridge.id)
                continue
            try:
                await self._hold(row.id, login)
            except AgentError as error:  # another engine that runs has him (a login there)
                log.warning("agent.not_adopted", agent=login, reason=str(error))
                continue
            leg, others = legs[0], [c for c in bridge.channels if c != legs[0]]
            # Where his bridge and leg are, for the requests to come (a node link needs it).
            await self._ari.get_bridge(bridge.id)
            await self._ari.get_channel(leg)
            last = await self._storage.agents.last_agent_state(row.id)
            agent = AgentStatus(login, since=_now(), channel_id=leg, bridge_id=bridge.id)
            if others:
                # A caller on another node is in the bridge as a node link's in leg.
                agent.state, agent.call_id = AgentState.ON_CALL, self._links.carried_by(others[0])
            elif last is not None and last.state == AgentState.PAUSED.value:
                agent.state, agent.reason = AgentState.PAUSED, last.reason
            elif last is not None and last.state == AgentState.WRAP_UP.value:
                # Still writing up his last call: he gets his wrap-up time again (and can
                # still save its disposition) rather than a new call in the middle of it.
                agent.state, agent.call_id = AgentState.WRAP_UP, last.channel_id
                self._tasks.spawn(self._end_wrap_up(agent, agent.call_id))
            else:
                agent.state = AgentState.READY
            self._agents[login], self._ids[login] = agent, row.id
            self._teams[login] = row.team
            if row.sip_endpoint:
                self._endpoints[login] = row.sip_endpoint
            await self._storage.agents.record_agent_state(
                row.id,
                agent.state.value,
                agent.since,
                reason=f"taken over from {from_app}" if from_app else "adopted after a restart",
                channel_id=agent.call_id,
            )
            log.info("agent.adopted", agent=login, state=agent.state.value, leg=leg)
            self._watch_leg_soon(agent, self._ari.subscribe(leg))
            if agent.state is AgentState.ON_CALL and agent.call_id:
                self._tasks.spawn(self._watch_adopted_call(agent, agent.call_id))
            adopted.append(login)
        return adopted

    async def _watch_adopted_call(self, agent: AgentStatus, debtor: str) -> None:
        """The call found in an adopted agent's bridge has no call flow of ours any more: its
        end puts the agent into wrap-up."""
        with self._ari.subscribe(debtor) as events:
            while await self._ari.get_channel(debtor) is not None:
                with contextlib.suppress(TimeoutError):
                    await events.wait_for((ChannelDestroyed, StasisEnd), timeout=30)
                    break
        if agent.call_id == debtor:
            await self.call_ended(agent.login)

    async def _ring(self, login: str, endpoint: str, leg_id: str, events) -> None:
        """Call the agent's softphone into our app; returns once he answers, AgentError if he
        does not (TimeoutError if Asterisk says nothing)."""
        try:
            await ring_into_app(
                self._ari,
                endpoint_dial_string(endpoint),
                channel_id=leg_id,
                events=events,
                app_args=["agent", login],
                timeout=self._answer_timeout,
            )
        except NotAnswered as error:
            raise AgentError(f"agent {login!r}'s softphone did not answer ({error})") from None

    def _watch_leg_soon(self, agent: AgentStatus, events) -> None:
        leg = agent.channel_id
        task = self._tasks.spawn(self._watch_leg(agent, events))
        if leg is not None:
            self._leg_watches[leg] = task
            task.add_done_callback(lambda _: self._leg_watches.pop(leg, None))

    async def reconcile(self) -> None:
        """After the events websocket (re)connects: an agent whose softphone leg is gone lost
        his phone while no event could say so (Asterisk crashed or restarted). He is logged
        out, not left ready on a dead line for the dialer to put debtors through to."""
        for agent in list(self._agents.values()):
            leg = agent.channel_id
            if agent.state is AgentState.LOGGED_OUT or leg is None:
                continue
            try:
                if await self._ari.get_channel(leg) is not None:
                    continue
            except AriUnavailable:
                continue  # on another node, not answering now: looked at when it is back
            log.warning("agent.phone_lost_unseen", agent=agent.login, leg=leg)
            await self._lose_phone(agent, "softphone lost while not watched")

    async def _lose_phone(self, agent: AgentStatus, why: str) -> None:
        leg = agent.channel_id
        watch = self._leg_watches.pop(leg, None) if leg else None
        if watch is not None:
            watch.cancel()  # it waits for events of a channel that is no more
        if agent.bridge_id:
            with contextlib.suppress(AriUnavailable):
                await self._ari.destroy_bridge(agent.bridge_id)
        agent.bridge_id = agent.channel_id = None
        await self._apply(agent, "phone_lost", reason=why)

    def node_lost(self, node: str) -> None:
        """One of several Asterisk nodes is not heard any more: the agents on it cannot be put
        through to (nor heard hanging up), so they are logged out now rather than left ready
        for the pacing to count; they log in again, on a node that answers."""
        for agent in self.all():
            if agent.state is not AgentState.LOGGED_OUT and self.node_of(agent.login) == node:
                log.warning("agent.node_lost", agent=agent.login, node=node)
                self._tasks.spawn(self._lose_phone(agent, f"Asterisk node {node} lost"))

    async def _watch_leg(self, agent: AgentStatus, events) -> None:
        """The softphone leg ends the session when it goes (the agent hung up his phone, or
        it went without a word and Asterisk found no more audio from it)."""
        ended: ChannelDestroyed | None = None
        with events:
            async for event in events:
                if isinstance(event, ChannelDtmfReceived):
                    self._dtmf(agent.login, event)
                elif isinstance(event, ChannelDestroyed):
                    ended = event
                    break
                elif isinstance(event, StasisEnd):
                    # The destruction (with its cause) follows at once.
                    with contextlib.suppress(TimeoutError):
                        ended = await events.wait_for(ChannelDestroyed, timeout=1.0)
                    break
        if agent.state is AgentState.LOGGED_OUT:
            return
        vanished = ended is None or ended.cause not in HUNG_UP_BY_HAND
        log.warning("agent.phone_lost", agent=agent.login, vanished=vanished)
        debtor = agent.call_id if agent.state is AgentState.ON_CALL else None
        if agent.bridge_id:
            await self._ari.destroy_bridge(agent.bridge_id)
        agent.bridge_id = agent.channel_id = None
        why = "softphone went silent" if vanished else "softphone hung up"
        await self._apply(agent, "phone_lost", reason=why)
        if debtor is not None:
            await self._debtor_left_alone(agent.login, debtor, vanished)

    async def logout(self, login: str) -> None:
        agent = self._require(login)
        leg, bridge = agent.channel_id, agent.bridge_id
        agent.channel_id = agent.bridge_id = None
        await self._apply(agent, "logout")
        if leg:
            await self._ari.hangup(leg)
        if bridge:
            await self._ari.destroy_bridge(bridge)

    async def pause(self, login: str, reason: str) -> None:
        await self._apply(self._require(login), "pause", reason=reason)

    async def ready(self, login: str) -> None:
        await self._apply(self._require(login), "ready")

    def _require(self, login: str) -> AgentStatus:
        agent = self._agents.get(login)
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            raise AgentError(f"agent {login!r} is not logged in")
        return agent

    # ------------------------------------------------------------------ calls
    async def reserve(self, logins: set[str] | None = None) -> AgentStatus | None:
        """Hold the longest-idle ready agent for a call about to be placed for him."""
        agent = longest_idle(self.all(), logins)
        if agent is not None:
            await self._apply(agent, "reserve")
        return agent

    def hold_for(self, login: str, call_id: str) -> None:
        """Name the call a reserved agent is held for (its channel, known once it is placed):
        from then on only that call can release him or be put through to him. A reservation
        named already stays with its call."""
        agent = self._agents.get(login)
        if agent is not None and agent.state is AgentState.RESERVED and not agent.held_for_call:
            agent.held_for_call = call_id

    async def release(self, login: str, call_id: str | None = None) -> None:
        """Back to ready from a reservation; with `call_id`, only if he is held for that call
        (a call that ends after its agent was released and reserved again leaves him be)."""
        agent = self._agents.get(login)
        if agent is None or agent.state is not AgentState.RESERVED:
            return
        if call_id is None or agent.held_for(call_id):
            await self._apply(agent, "release")

    def endpoint_of(self, login: str) -> str | None:
        """The endpoint his shift leg rings (None: not logged in since the engine started)."""
        return self._endpoints.get(login)

    def node_of(self, login: str) -> str | None:
        """The Asterisk node the agent's leg and bridge are on; None: none (logged out, or rung
        per call, on the debtor's node)."""
        agent = self._agents.get(login)
        if agent is None or agent.channel_id is None or self.ring_per_call:
            return None
        return self._ari.node_of_channel(agent.channel_id)

    def on(self, node: str | None, *, linked: bool = False) -> list[AgentStatus]:
        """The agents a call on `node` can be put through to (every one for None): those on
        that node, and with `linked` those a node link reaches too."""
        if node is None:
            return self.all()
        if linked:
            return [a for a in self.all() if self.reaches(a.login, node)]
        return [a for a in self.all() if self.node_of(a.login) in (None, node)]

    def reaches(self, login: str, node: str | None) -> bool:
        """Whether a call on `node` can be put through to him: his node, or one a node link
        reaches."""
        return self._links.reaches(node, self.node_of(login))

    async def wait_for_ready(
        self, timeout: float, logins: set[str] | None = None, node: str | None = None
    ) -> AgentStatus | None:
        """The longest-idle ready agent (of those a call on `node` can reach: on that node
        first, then through a node link), waiting up to `timeout` s for one; claimed at once."""
        deadline = asyncio.get_running_loop().time() + timeout

        def pick() -> AgentStatus | None:
            return longest_idle(self.on(node), logins) or longest_idle(
                self.on(node, linked=True), logins
            )

        async with self._changed:
            while (agent := pick()) is None:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):  # not wait_for: see tasks.wait_set
                        await self._changed.wait()
            agent.apply("reserve", _now())  # claimed under the lock: no one else gets him
        self._tell_state(agent, AgentState.READY)
        await self._storage.agents.record_agent_state(
            self._ids[agent.login], agent.state.value, _now()
        )
        return agent

    async def connect(
        self, agent: AgentStatus, call_channel_id: str, *, record: OnRecord | None = None
    ) -> datetime:
        """Move the debtor's channel into the agent's bridge; returns when it was done.

        `record(bridged_at)` writes the call down as this agent's; it runs once the debtor is
        with the agent (he waits for no write) and before the agent is on the call in memory,
        where his screen and the API see it: a disposition saved at once finds it on record."""
        if self.ring_per_call:
            return await self._ring_and_connect(agent, call_channel_id, record)
        if agent.bridge_id is None:
            raise AgentError(f"agent {agent.login!r} has no bridge (phone lost)")
        try:
            await self._links.join(agent.bridge_id, call_channel_id)
        except ChannelGone:
            await self.release(agent.login)
            raise
        except LinkFailed as error:
            await self.release(agent.login)
            raise AgentError(f"agent {agent.login!r} could not be reached: {error}") from None
        bridged_at = _now()
        await self._record(agent, call_channel_id, bridged_at, record)
        agent.call_id = call_channel_id
        await self._apply(agent, "connect", channel_id=call_channel_id)
        return bridged_at

    async def _record(
        self, agent: AgentStatus, call_id: str, bridged_at: datetime, record: OnRecord | None
    ) -> None:
        if record is None:
            return
        try:
            await asyncio.shield(record(bridged_at))
        except Exception:
            # The debtor is with him all the same: his state must say so.
            log.exception("agent.call_not_recorded", agent=agent.login, call_id=call_id)

    async def _ring_and_connect(
        self, agent: AgentStatus, call_channel_id: str, record: OnRecord | None
    ) -> datetime:
        """Per-call mode: a bridge for this call, the debtor in it, the agent's phone rung and
        joined when he answers. He does not answer: paused, and AgentError for the caller."""
        login = agent.login
        bridge_id = f"call-{login}-{uuid.uuid4().hex[:8]}"
        leg_id = f"agent-{login}-{uuid.uuid4().hex[:12]}"
        events = self._ari.subscribe(leg_id)
        try:
            with on_node(self._ari.node_of_channel(call_channel_id)):  # the debtor's node
                await self._ari.create_bridge(bridge_type=AGENT_BRIDGE, bridge_id=bridge_id)
                await self._ari.add_channel(bridge_id, call_channel_id)
                await self._ring(login, self._endpoints[login], leg_id, events)
            await self._ari.add_channel(bridge_id, leg_id)
        except (AgentError, AriError, TimeoutError) as error:
            events.close()
            await self._ari.hangup(leg_id)
            await self._ari.destroy_bridge(bridge_id)
            if isinstance(error, ChannelGone) and not await self._ari.get_channel(call_channel_id):
                await self.release(login)
                raise  # the debtor hung up meanwhile
            await self.release(login)
            await self._apply(agent, "pause", reason="missed a call")
            raise AgentError(f"agent {login!r} could not be rung: {error}") from None
        bridged_at = _now()
        await self._record(agent, call_channel_id, bridged_at, record)
        agent.channel_id, agent.bridge_id, agent.call_id = leg_id, bridge_id, call_channel_id
        await self._apply(agent, "connect", channel_id=call_channel_id)
        self._tasks.spawn(self._watch_call_leg(agent, leg_id, call_channel_id, events))
        return bridged_at

    async def _watch_call_leg(self, agent: AgentStatus, leg_id: str, debtor: str, events) -> None:
        """Per-call mode: the agent hanging up ends the debtor's call too."""
        with events:
            async for event in events:
                if isinstance(event, ChannelDtmfReceived):
                    self._dtmf(agent.login, event)
                elif isinstance(event, (StasisEnd, ChannelDestroyed)):
                    break
        if agent.login in self._lent:
            await self.take_back(agent.login)  # a third party leaving: the call goes on
        elif agent.call_id == debtor and agent.state is AgentState.ON_CALL:
            await self._ari.hangup(debtor)

    async def lend(self, login: str, bridge_id: str, call_id: str, leg_id: str) -> str:
        """Put a ready agent on a colleague's call (a third party): his leg moves from his
        own bridge into `bridge_id` (per-call mode: his phone is rung, as `leg_id`, into it).
        He is on that call until `take_back`. Returns the leg now in the call."""
        if not self._links.reaches(self.node_of(login), self._ari.node_of_bridge(bridge_id)):
            raise AgentError(f"agent {login!r} is on another Asterisk node than this call")
        agent = await self.claim(login)
        if agent is None:
            raise AgentError(f"agent {login!r} is not ready")
        try:
            if self.ring_per_call:
                events = self._ari.subscribe(leg_id)
                try:
                    with on_node(self._ari.node_of_bridge(bridge_id)):
                        await self._ring(login, self._endpoints[login], leg_id, events)
                    await self._ari.add_channel(bridge_id, leg_id)
                except BaseException:
                    events.close()
                    await self._ari.hangup(leg_id)
                    raise
                agent.channel_id = leg_id
                self._tasks.spawn(self._watch_call_leg(agent, leg_id, call_id, events))
            else:
                if agent.bridge_id is None or agent.channel_id is None:
                    raise AgentError(f"agent {login!r} has no phone leg")
                await self._ari.remove_channel(agent.bridge_id, agent.channel_id)
                await self._links.join(bridge_id, agent.channel_id)  # a link if on another node
        except (AgentError, AriError, TimeoutError) as error:
            await self.release(login)
            if agent.bridge_id and agent.channel_id and not self.ring_per_call:
                with contextlib.suppress(AriError):
                    await self._links.join(agent.bridge_id, agent.channel_id)
            raise AgentError(f"agent {login!r} could not join the call: {error}") from None
        self._lent[login] = bridge_id
        agent.call_id = call_id
        await self._apply(agent, "connect", channel_id=call_id)
        assert agent.channel_id is not None
        return agent.channel_id

    async def take_back(self, login: str) -> None:
        """The lent agent leaves the colleague's call: back in his own bridge, in wrap-up."""
        lent_to = self._lent.pop(login, None)
        agent = self._agents.get(login)
        if lent_to is None or agent is None or agent.state is not AgentState.ON_CALL:
            return
        if self.ring_per_call:
            leg, agent.channel_id = agent.channel_id, None
            await self._apply(agent, "call_ended")
            if leg:
                await self._ari.hangup(leg)
        else:
            if agent.channel_id and agent.bridge_id:
                with contextlib.suppress(AriError):
                    await self._links.leave(lent_to, agent.channel_id)
                    await self._ari.add_channel(agent.bridge_id, agent.channel_id)
            await self._apply(agent, "call_ended")
        self._tasks.spawn(self._end_wrap_up(agent, agent.call_id))

    def holder_of(self, call_id: str) -> str | None:
        """The agent whose own call this is now (after a hand-over, the colleague who took
        it; never a third party lent to it)."""
        return next(
            (
                agent.login
                for agent in self._agents.values()
                if agent.call_id == call_id
                and agent.state is AgentState.ON_CALL
                and agent.login not in self._lent
            ),
            None,
        )

    async def hand_over(self, login: str, to_login: str) -> datetime:
        """Transfer the debtor on `login`'s call to a ready colleague (the case's owner, say):
        the debtor's channel moves into the colleague's bridge (per-call mode: his phone is
        rung first) and the first agent goes to wrap-up. Returns when the colleague had him.
        AgentError when it cannot be done; the debtor then stays where he was."""
        agent = self._require(login)
        debtor = agent.call_id
        if agent.state is not AgentState.ON_CALL or debtor is None or agent.bridge_id is None:
            raise AgentError("you are not on a call")
        if login in self._lent:
            raise AgentError("you are a third party on this call: its agent may transfer it")
        if to_login == login:
            raise AgentError("the call is yours already")
        if self.call_goes_on(login):
            # The parties are in this agent's bridge; moving the debtor alone would split them.
            raise AgentError("let the third parties go before transferring the call")
        if not self.reaches(to_login, self._ari.node_of_channel(debtor)):
            # A bridge holds one Asterisk node's channels, and no link reaches his.
            raise AgentError(f"agent {to_login!r} is on another Asterisk node than this call")
        colleague = await self.claim(to_login)
        if colleague is None:
            raise AgentError(f"agent {to_login!r} is not ready")
        try:
            await self.take_out(agent.bridge_id, debtor)
        except AriError as error:
            await self.release(to_login)
            raise AgentError(f"the call could not be moved: {error}") from None
        from_id, to_id = self._ids[login], self._ids[to_login]
        try:
            bridged_at = await self.connect(
                colleague,
                debtor,
                record=lambda at: self._storage.attempts.record_hand_over(
                    debtor, from_id, to_id, at
                ),
            )
        except (AgentError, AriError, TimeoutError) as error:
            await self.release(to_login)
            with contextlib.suppress(AriError):  # he is gone, or back with the first agent
                await self._links.join(agent.bridge_id, debtor)
            raise AgentError(f"agent {to_login!r} could not take the call: {error}") from None
        log.info("agent.call_handed_over", agent=login, to=to_login, channel_id=debtor)
        await self.call_ended(login)
        return bridged_at

    async def take_out(self, bridge_id: str, debtor: str) -> None:
        """The debtor out of an agent's bridge (and out of his node link, if he came through
        one), still up: for another agent, or a survey."""
        await self._links.leave(bridge_id, debtor)

    async def call_ended(self, login: str) -> None:
        """The debtor left: wrap-up, back to ready after the wrap-up time unless paused."""
        agent = self._agents.get(login)
        if agent is None or agent.state is not AgentState.ON_CALL:
            return
        if self.call_goes_on(login):
            # Third parties are still with him: wrap-up starts when the last one leaves.
            log.info("agent.call_goes_on", agent=login)
            return
        call = agent.call_id
        if self.ring_per_call:
            leg, bridge = agent.channel_id, agent.bridge_id
            agent.channel_id = agent.bridge_id = None
            await self._apply(agent, "call_ended")
            if leg:
                await self._ari.hangup(leg)
            if bridge:
                await self._ari.destroy_bridge(bridge)
        else:
            await self._apply(agent, "call_ended")
        self._tasks.spawn(self._end_wrap_up(agent, call))

    async def _end_wrap_up(self, agent: AgentStatus, call: str | None) -> None:
        await asyncio.sleep(self._wrap_up_seconds)
        if agent.state is AgentState.WRAP_UP and agent.call_id == call:
            await self._apply(agent, "ready", reason="wrap-up time over")
