"""Supervision sessions on the PBX.

A session is a mixing bridge holding the supervisor's phone and one snoop channel on the
supervised agent's leg. Switching modes makes a new snoop with the new directions, adds it and
hangs up the old one: the supervisor's call never drops and there is no moment of silence.
The session ends when the supervisor hangs up or asks to stop, or when the supervised call
ends (the debtor leaves, or the agent's leg goes).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState
from pbx_engine.ari import AriClient, AriError
from pbx_engine.ari.calls import NotAnswered, ring_into_app
from pbx_engine.ari.dialstrings import dial_string, endpoint_dial_string
from pbx_engine.ari.events import ChannelDestroyed, StasisEnd, StasisStart
from pbx_engine.ari.nodes import on_node
from pbx_engine.outbound.gate import DialAsk, OutboundGate
from pbx_engine.outbound.policy import Purpose
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.supervision import SupervisionEntry, SupervisorAction
from pbx_engine.supervision.modes import SupervisionMode, may_supervise, snoop_directions
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)


class SupervisionError(Refused):
    """A supervision request that cannot be met."""


@dataclass
class SupervisionSession:
    supervisor: str
    supervisor_id: int
    agent: str
    agent_id: int
    call_id: str  # the supervised debtor's channel
    agent_leg: str
    mode: SupervisionMode
    bridge_id: str
    supervisor_leg: str
    snoop_id: str
    started_at: datetime

    def as_json(self) -> dict:
        return {
            "supervisor": self.supervisor,
            "agent": self.agent,
            "call": self.call_id,
            "mode": self.mode.value,
            "started_at": self.started_at.isoformat(),
        }


class SupervisionService:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        agents: AgentService,
        *,
        trunk: str,
        answer_timeout: float = 20.0,
        outbound: OutboundGate | None = None,
    ) -> None:
        self._outbound = outbound
        self._ari = ari
        self._storage = storage
        self._agents = agents
        self._trunk = trunk
        self._answer_timeout = answer_timeout
        self._sessions: dict[str, SupervisionSession] = {}  # supervisor login -> session
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = OwnedTasks()

    def session_of(self, supervisor: str) -> SupervisionSession | None:
        return self._sessions.get(supervisor)

    async def record_action(self, supervisor: AgentRow, action: str, target: str) -> None:
        """A supervisor's action (a listen, a campaign paused, a payment), on record
        (`supervisor_actions`) and in the log; an agent's own actions (a moderator's in his
        room) are not supervision and are not recorded here."""
        if not may_supervise(supervisor.role):
            return
        log.info("supervisor.action", supervisor=supervisor.login, action=action, target=target)
        await self._storage.supervision.audit_supervisor_action(
            supervisor.id, action, target, datetime.now(UTC)
        )

    async def actions(self) -> list[SupervisorAction]:
        """Supervisors' recorded actions, newest first."""
        return await self._storage.supervision.supervisor_actions()

    async def log(self) -> list[SupervisionEntry]:
        """Every listen, whisper, barge and stop, newest first."""
        return await self._storage.supervision.supervision_log()

    def sessions(self) -> list[SupervisionSession]:
        return list(self._sessions.values())

    async def close(self) -> None:
        await self._tasks.close()
        for session in list(self._sessions.values()):
            await self._tear_down(session)

    async def start(
        self,
        supervisor: AgentRow,
        agent_login: str,
        mode: SupervisionMode,
        *,
        number: str | None = None,
    ) -> SupervisionSession:
        """Call the supervisor (his softphone, or `number` through the trunk) and connect him
        to the agent's live call in `mode`."""
        if not may_supervise(supervisor.role):
            raise SupervisionError("only supervisors may supervise calls", 403)
        async with self._locks.setdefault(supervisor.login, asyncio.Lock()):
            if supervisor.login in self._sessions:
                raise SupervisionError("you are supervising a call already: switch or stop it")
            agent = self._agents.status(agent_login)
            if agent is None or agent.state is not AgentState.ON_CALL or not agent.channel_id:
                raise SupervisionError(f"agent {agent_login!r} is not on a call", 404)
            if number is None and not supervisor.sip_endpoint:
                raise SupervisionError("you have no softphone: give a number to be called at", 422)
            if number is not None and self._outbound is not None:
                await self._outbound.check(
                    DialAsk(Purpose.SUPERVISOR, number, agent_id=supervisor.id)
                )
            endpoint = (
                dial_string(number, self._trunk)
                if number
                else endpoint_dial_string(supervisor.sip_endpoint)
            )
            call_id, agent_leg = agent.call_id, agent.channel_id
            bridge_id = f"supervise-{uuid.uuid4().hex[:12]}"
            leg_id = f"supervisor-{supervisor.login}-{uuid.uuid4().hex[:8]}"
            leg_events = self._ari.subscribe(leg_id)
            try:
                # On the agent's node: the supervisor's leg joins a snoop on the agent's.
                with on_node(self._ari.node_of_channel(agent_leg)):
                    await self._ari.create_bridge(
                        bridge_type="mixing",
                        bridge_id=bridge_id,
                        name=f"supervision {agent_login}",
                    )
                    await ring_into_app(
                        self._ari,
                        endpoint,
                        channel_id=leg_id,
                        events=leg_events,
                        app_args=["supervisor", agent_login],
                        timeout=self._answer_timeout,
                    )
                await self._ari.add_channel(bridge_id, leg_id)
                snoop_id = await self._snoop(agent_leg, bridge_id, mode)
            except (NotAnswered, AriError, TimeoutError) as error:
                leg_events.close()
                await self._ari.hangup(leg_id)
                await self._ari.destroy_bridge(bridge_id)
                raise SupervisionError(f"could not connect you: {error or 'no answer'}") from None
            session = SupervisionSession(
                supervisor=supervisor.login,
                supervisor_id=supervisor.id,
                agent=agent_login,
                agent_id=self._agents.agent_id(agent_login),
                call_id=call_id,
                agent_leg=agent_leg,
                mode=mode,
                bridge_id=bridge_id,
                supervisor_leg=leg_id,
                snoop_id=snoop_id,
                started_at=datetime.now(UTC),
            )
            self._sessions[supervisor.login] = session
            await self._audit(session, mode.value)
            self._tasks.spawn(self._watch(session, leg_events))
            return session

    async def switch(self, supervisor: str, mode: SupervisionMode) -> SupervisionSession:
        async with self._locks.setdefault(supervisor, asyncio.Lock()):
            session = self._sessions.get(supervisor)
            if session is None:
                raise SupervisionError("you are not supervising a call", 404)
            if mode is session.mode:
                return session
            old = session.snoop_id
            try:
                session.snoop_id = await self._snoop(session.agent_leg, session.bridge_id, mode)
            except (AriError, TimeoutError) as error:
                raise SupervisionError(f"could not switch to {mode.value}: {error}") from None
            await self._ari.hangup(old)
            session.mode = mode
            await self._audit(session, mode.value)
            return session

    async def stop(self, supervisor: str) -> None:
        session = self._sessions.get(supervisor)
        if session is None:
            raise SupervisionError("you are not supervising a call", 404)
        await self._end(session)

    async def _snoop(self, agent_leg: str, bridge_id: str, mode: SupervisionMode) -> str:
        spy, whisper = snoop_directions(mode)
        snoop_id = f"snoop-{uuid.uuid4().hex[:16]}"
        with self._ari.subscribe(snoop_id) as events:
            await self._ari.snoop(
                agent_leg,
                app=self._ari.app,
                spy=spy,
                whisper=whisper,
                snoop_id=snoop_id,
                app_args=["supervision", mode.value],
            )
            try:
                await events.wait_for((StasisStart,), timeout=5)
                await self._ari.add_channel(bridge_id, snoop_id)
            except (AriError, TimeoutError):
                await self._ari.hangup(snoop_id)
                raise
        return snoop_id

    async def _watch(self, session: SupervisionSession, leg_events) -> None:
        """End the session with the supervisor's call, the agent's leg, or the debtor's."""
        leg_events.follow(session.call_id)
        leg_events.follow(session.agent_leg)
        with leg_events:
            async for event in leg_events:
                if isinstance(event, (ChannelDestroyed, StasisEnd)):
                    break
        await self._end(session)

    async def _end(self, session: SupervisionSession) -> None:
        if self._sessions.get(session.supervisor) is not session:
            return
        del self._sessions[session.supervisor]
        await self._tear_down(session)
        with contextlib.suppress(Exception):
            await self._audit(session, "stop")

    async def _tear_down(self, session: SupervisionSession) -> None:
        for channel in (session.snoop_id, session.supervisor_leg):
            await self._ari.hangup(channel)
        await self._ari.destroy_bridge(session.bridge_id)

    async def _audit(self, session: SupervisionSession, action: str) -> None:
        log.info(
            "supervision.audit",
            supervisor=session.supervisor,
            agent=session.agent,
            call=session.call_id,
            action=action,
        )
        await asyncio.shield(
            self._storage.supervision.log_supervision(
                session.supervisor_id,
                session.agent_id,
                session.call_id,
                action,
                datetime.now(UTC),
            )
        )
