"""Supervision: a supervisor listens to an agent's live call, whispers to the agent alone, or
barges in to be heard by everyone, and switches between these during the call. Only agents
with the supervisor or admin role may; every start, switch and stop is written down.

`modes` is the pure part (what each mode lets through, who may); `service` does it with ARI
snoop channels on the agent's leg."""

from pbx_engine.supervision.modes import SupervisionMode, may_supervise, snoop_directions

__all__ = ["SupervisionMode", "may_supervise", "snoop_directions"]
