"""Third parties on an agent's live call: the creditor, a guarantor, a colleague.

A party is dialled (a number through the trunk, presented with the campaign's caller ID; or a
ready colleague, whose phone leg is lent to the call) and joins the bridge the agent and the
debtor are in once it answers. Anyone but the agent may leave and the others talk on: when
the debtor leaves first, the agent stays on the call with the parties, and his wrap-up starts
when the last of them is gone. The agent hosts: when his own phone hangs up, the parties are
let go.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from pbx_engine.agents.service import AgentError, AgentService
from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.ari import AriClient, AriError
from pbx_engine.ari.calls import NotAnswered, ring_into_app
from pbx_engine.ari.dialstrings import dial_string
from pbx_engine.ari.events import ChannelDestroyed, StasisEnd
from pbx_engine.ari.nodes import on_node
from pbx_engine.conferences.feature_codes import (
    AddAgent,
    AddNumber,
    DropLast,
    FeatureCodeReader,
    HandOver,
    UnknownCode,
)
from pbx_engine.outbound.gate import DialAsk, OutboundGate
from pbx_engine.outbound.policy import Purpose
from pbx_engine.refusals import Refused
from pbx_engine.storage import Storage
from pbx_engine.tasks import OwnedTasks

log = structlog.get_logger(__name__)

# (campaign id or None, the party's number) -> (caller ID to present, trunk) or Nones
IdentityFor = Callable[[int | None, str], Awaitable[tuple[str | None, str | None]]]


class PartyError(Refused):
    """A request about third parties that cannot be met."""


@dataclass
class Party:
    id: str  # its channel on our PBX
    host: str  # the agent whose call it joined
    kind: str  # number | agent
    target: str  # the number dialled, or the colleague's login
    joined_at: datetime

    def as_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "joined_at": self.joined_at.isoformat(),
        }


async def _no_identity(campaign_id: int | None, number: str) -> tuple[None, None]:
    return None, None


class ThirdParties:
    def __init__(
        self,
        ari: AriClient,
        storage: Storage,
        agents: AgentService,
        *,
        trunk: str,
        caller_id: str | None = None,
        answer_timeout: float = 30.0,
        identity: IdentityFor = _no_identity,
        outbound: OutboundGate | None = None,
    ) -> None:
        self._outbound = outbound
        self._ari = ari
        self._storage = storage
        self._agents = agents
        self._trunk = trunk
        self._caller_id = caller_id
        self._answer_timeout = answer_timeout
        self._identity = identity
        self._parties: dict[str, list[Party]] = {}  # host login -> parties, oldest first
        self._readers: dict[str, FeatureCodeReader] = {}
        self._tasks = OwnedTasks()
        agents.call_goes_on = self.has_parties
        agents.on_dtmf(self._on_dtmf)

    async def close(self) -> None:
        await self._tasks.close()

    def parties_of(self, host: str) -> list[Party]:
        return list(self._parties.get(host, ()))

    def has_parties(self, host: str) -> bool:
        return bool(self._parties.get(host))

    def _host_on_call(self, host: str) -> AgentStatus:
        agent = self._agents.status(host)
        if agent is None or agent.state is not AgentState.ON_CALL or not agent.bridge_id:
            raise PartyError("you are not on a call", 409)
        return agent

    async def add_number(self, host: str, number: str) -> Party:
        """Dial `number` and join it to the host's call once it answers."""
        agent = self._host_on_call(host)
        if self._outbound is not None:
            ask = DialAsk(Purpose.PARTY, number, agent_id=self._agents.agent_id(host))
            await self._outbound.check(ask)  # OutboundRefused: 403 / 429
        attempt = await self._storage.attempts.get_attempt(agent.call_id) if agent.call_id else None
        caller_id, trunk = await self._identity(attempt.campaign_id if attempt else None, number)
        channel_id = f"party-{uuid.uuid4().hex[:16]}"
        events = self._ari.subscribe(channel_id)
        try:
            with on_node(self._ari.node_of_bridge(agent.bridge_id)):  # it joins that bridge
                await ring_into_app(
                    self._ari,
                    dial_string(number, trunk or self._trunk),
                    channel_id=channel_id,
                    events=events,
                    app_args=["party", host],
                    timeout=self._answer_timeout,
                    caller_id=caller_id or self._caller_id,
                )
            await self._ari.add_channel(agent.bridge_id, channel_id)
        except (NotAnswered, AriError, TimeoutError) as error:
            events.close()
            await self._ari.hangup(channel_id)
            raise PartyError(f"{number} could not be added: {error or 'no answer'}") from None
        return self._joined(Party(channel_id, host, "number", number, _now()), agent, events)

    async def add_agent(self, host: str, login: str) -> Party:
        """Put a ready colleague on the host's call."""
        agent = self._host_on_call(host)
        if login == host:
            raise PartyError("you are on this call already", 422)
        assert agent.bridge_id is not None and agent.call_id is not None
        try:
            leg = await self._agents.lend(
                login, agent.bridge_id, agent.call_id, f"agent-{login}-{uuid.uuid4().hex[:12]}"
            )
        except AgentError as error:
            raise PartyError(str(error)) from None
        events = self._ari.subscribe(leg)
        return self._joined(Party(leg, host, "agent", login, _now()), agent, events)

    def _joined(self, party: Party, host: AgentStatus, events) -> Party:
        self._parties.setdefault(party.host, []).append(party)
        log.info("conference.party_joined", host=party.host, kind=party.kind, target=party.target)
        if host.channel_id:
            events.follow(host.channel_id)  # the host hanging up lets the party go
        self._tasks.spawn(self._watch(party, host.channel_id, events))
        return party

    async def drop(self, host: str, party_id: str | None = None) -> Party:
        """The host lets a party go (the last one added when no id is given)."""
        parties = self._parties.get(host, [])
        party = next((p for p in parties if p.id == party_id), None) if party_id else None
        if party is None and party_id is None and parties:
            party = parties[-1]
        if party is None:
            raise PartyError("no such party on your call", 404)
        await self._let_go(party)
        return party

    async def _let_go(self, party: Party) -> None:
        parties = self._parties.get(party.host, [])
        if party not in parties:
            return
        parties.remove(party)
        if not parties:
            self._parties.pop(party.host, None)
        if party.kind == "agent":
            await self._agents.take_back(party.target)
        else:
            await self._ari.hangup(party.id)
        log.info("conference.party_left", host=party.host, kind=party.kind, target=party.target)
        await self._after_leaving(party.host)

    async def _watch(self, party: Party, host_leg: str | None, events) -> None:
        gone = None
        with events:
            async for event in events:
                if isinstance(event, (ChannelDestroyed, StasisEnd)):
                    gone = event.channel.id
                    break
        if gone is not None and gone == host_leg:
            log.info("conference.host_left", host=party.host)
            for other in self.parties_of(party.host):
                await self._let_go(other)
        else:
            await self._let_go(party)

    async def _after_leaving(self, host: str) -> None:
        """With the last party gone after the debtor, the host's call is over."""
        agent = self._agents.status(host)
        if self.has_parties(host) or agent is None or agent.state is not AgentState.ON_CALL:
            return
        if agent.call_id is None or await self._ari.get_channel(agent.call_id) is None:
            await self._agents.call_ended(host)

    # ------------------------------------------------------------------ feature codes
    def _on_dtmf(self, login: str, digit: str) -> None:
        command = self._readers.setdefault(login, FeatureCodeReader()).press(digit)
        if command is not None:
            self._tasks.spawn(self._run_code(login, command))

    async def _run_code(self, login: str, command) -> None:
        agent = self._agents.status(login)
        try:
            match command:
                case AddNumber(digits=digits):
                    await self.add_number(login, f"+{digits}")
                case AddAgent(agent_id=agent_id):
                    colleague = self._agents.login_of(agent_id)
                    if colleague is None:
                        raise PartyError(f"no logged-in agent with id {agent_id}", 404)
                    await self.add_agent(login, colleague)
                case DropLast():
                    await self.drop(login)
                case HandOver(agent_id=agent_id):
                    await self._hand_over(login, agent_id)
                case UnknownCode(keys=keys):
                    raise PartyError(f"unknown feature code *{keys}#", 422)
        except (Refused, AgentError) as error:
            log.warning("conference.feature_code_failed", agent=login, error=str(error))
            tone = "sound:beeperr"
        else:
            tone = "sound:beep"
        if agent is not None and agent.channel_id:
            try:
                await self._ari.play(agent.channel_id, tone)
            except AriError:
                pass

    async def _hand_over(self, login: str, agent_id: int | None) -> None:
        """`*3#`: to the owner of the case on the call; `*3<id>#`: to that colleague."""
        if agent_id is not None:
            colleague = self._agents.login_of(agent_id)
            if colleague is None:
                raise PartyError(f"no logged-in agent with id {agent_id}", 404)
        else:
            agent = self._agents.status(login)
            call_id = agent.call_id if agent is not None else None
            attempt = await self._storage.attempts.get_attempt(call_id) if call_id else None
            owner = await self._storage.cases.case_owner(attempt.case_id) if attempt else None
            if attempt is None or attempt.case_id is None or owner is None:
                raise PartyError("this call's case has no owner", 404)
            colleague = owner[0]
        await self._agents.hand_over(login, colleague)


def _now() -> datetime:
    return datetime.now(UTC)
