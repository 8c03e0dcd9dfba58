"""Where an inbound caller goes: pure, so every branch is unit-tested without a PBX.

1. His case's owner, if ready;
2. the owner, if he is wrapping up and will be free within `owner_wait` seconds;
3. the owner's team (or everyone, for a caller with no owner), longest-idle agent first;
4. else the queue of that team (or of everyone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pbx_engine.agents.states import AgentState


@dataclass(frozen=True)
class AgentView:
    login: str
    team: str | None
    state: AgentState
    since: datetime | None  # when he entered that state


@dataclass(frozen=True)
class Route:
    kind: Literal["agent", "wait_for_owner", "queue"]
    reason: str
    login: str | None = None  # the agent, or the owner to wait for
    wait_seconds: float = 0.0  # wait_for_owner: how long at most
    team: str | None = None  # whose queue the caller joins if this fails (None: everyone's)


def route_inbound(
    agents: Sequence[AgentView],
    now: datetime,
    *,
    owner: str | None,
    owner_team: str | None,
    owner_wait: float,
    wrap_up_seconds: float,
) -> Route:
    by_login = {a.login: a for a in agents}
    owned = by_login.get(owner) if owner else None
    team = owner_team if owner else None
    if owned is not None:
        if owned.state is AgentState.READY:
            return Route("agent", "the case's owner is ready", login=owned.login, team=team)
        if owned.state is AgentState.WRAP_UP and owned.since is not None:
            left = wrap_up_seconds - (now - owned.since).total_seconds()
            if left <= owner_wait:
                return Route(
                    "wait_for_owner",
                    "the case's owner is finishing his wrap-up",
                    login=owned.login,
                    wait_seconds=max(left, 0.0) + 1.0,
                    team=team,
                )
    ready = [
        a
        for a in agents
        if a.state is AgentState.READY and (team is None or a.team == team) and a.login != owner
    ]
    if ready:
        chosen = min(ready, key=lambda a: a.since or datetime.min.replace(tzinfo=now.tzinfo))
        why = "longest idle in the owner's team" if team else "longest idle agent"
        return Route("agent", why, login=chosen.login, team=team)
    return Route("queue", "nobody free", team=team)
