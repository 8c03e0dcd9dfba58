"""Pacing: how many calls a campaign should have in flight, decided moment by moment.

Owns the pacing policies (progressive, ratio, VICIdial-style adaptive, and our predictive
model) and what they learn from finished calls; the simulator, the clairvoyant bound and the
benchmark are the lab's (`pbx_engine/lab/pacing/`). Everything here is pure: no I/O, no clock, no
asyncio. The live dialer and the simulator feed a policy the same `FloorState` and the same
observations.
"""

from pbx_engine.pacing.floor import (
    CallFate,
    CallObserved,
    CampaignHistory,
    FloorState,
    HandleObserved,
    Observation,
    PacingPolicy,
    Remembers,
)
from pbx_engine.pacing.policies import POLICY_NAMES, make_policy

__all__ = [
    "POLICY_NAMES",
    "CallFate",
    "CallObserved",
    "CampaignHistory",
    "FloorState",
    "HandleObserved",
    "Observation",
    "PacingPolicy",
    "Remembers",
    "make_policy",
]
