"""The agent's state machine: pure, every transition explicit, an illegal one raised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    CONNECTING = "connecting"  # calling the agent's softphone
    READY = "ready"
    RESERVED = "reserved"  # a call is being placed for this agent (progressive, preview)
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class IllegalAgentTransition(Exception):
    pass


S = AgentState
_ALLOWED: dict[str, dict[AgentState, AgentState]] = {
    "login": {S.LOGGED_OUT: S.CONNECTING},
    "phone_answered": {S.CONNECTING: S.READY},
    "reserve": {S.READY: S.RESERVED},
    "release": {S.RESERVED: S.READY},
    "connect": {S.READY: S.ON_CALL, S.RESERVED: S.ON_CALL},
    "call_ended": {S.ON_CALL: S.WRAP_UP},
    "ready": {S.WRAP_UP: S.READY, S.PAUSED: S.READY},
    "pause": {S.READY: S.PAUSED, S.WRAP_UP: S.PAUSED},
}


@dataclass
class AgentStatus:
    login: str
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None
    reason: str | None = None
    channel_id: str | None = None  # the softphone leg
    bridge_id: str | None = None
    call_id: str | None = None  # the debtor's channel while reserved or on a call
    held_for_call: str | None = None  # while reserved: the channel of the call placed for him

    def apply(self, event: str, now: datetime, *, reason: str | None = None) -> AgentState:
        """Move to the state `event` leads to from here; raises IllegalAgentTransition."""
        if event == "logout" or event == "phone_lost":
            target = AgentState.LOGGED_OUT  # allowed from anywhere: the phone may drop any time
        else:
            try:
                target = _ALLOWED[event][self.state]
            except KeyError:
                raise IllegalAgentTransition(
                    f"agent {self.login}: {event!r} is not possible while {self.state.value}"
                ) from None
        self.state = target
        self.since = now
        self.reason = reason
        if target in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            self.call_id = None
        if target is not AgentState.RESERVED:
            self.held_for_call = None
        return target

    def held_for(self, call_id: str) -> bool:
        """Whether he is reserved for this very call. A call may only take or release its own
        reservation: released after a machine, an agent is soon reserved for the next call,
        and the first call's end must not free him from that one."""
        return self.state is AgentState.RESERVED and self.held_for_call == call_id


def longest_idle(agents: list[AgentStatus], logins: set[str] | None = None) -> AgentStatus | None:
    """The ready agent who has waited longest (among `logins` when given): work goes round
    fairly, and nobody sits idle while a colleague takes call after call."""
    ready = [
        a for a in agents if a.state is AgentState.READY and (logins is None or a.login in logins)
    ]
    return min(ready, key=lambda a: a.since or datetime.min) if ready else None
