"""What each supervision mode lets through, as the directions of a snoop channel on the
agent's leg. On that leg "in" is what the agent says and "out" what he hears (the debtor and
anyone else on the call):

- listen: spy both, whisper none: the supervisor hears the whole call, nobody hears him;
- whisper: spy both, whisper out: his voice joins what the agent hears, never the debtor;
- barge: spy both, whisper both: his voice also joins what the agent sends into the call, so
  the debtor hears him too.
"""

from __future__ import annotations

from enum import StrEnum

from pbx_engine.roles import SUPERVISOR_ROLES, may_supervise

__all__ = ["SUPERVISOR_ROLES", "SupervisionMode", "may_supervise", "snoop_directions"]


class SupervisionMode(StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"


_DIRECTIONS = {
    SupervisionMode.LISTEN: ("both", "none"),
    SupervisionMode.WHISPER: ("both", "out"),
    SupervisionMode.BARGE: ("both", "both"),
}


def snoop_directions(mode: SupervisionMode) -> tuple[str, str]:
    """(spy, whisper) of the snoop channel on the agent's leg for this mode."""
    return _DIRECTIONS[mode]
