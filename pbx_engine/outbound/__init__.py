"""Outbound policy: the one gate every external dial passes, whoever asks for it.

Campaign calls and supervisors' test calls (the dialer), parties an agent adds to his call
(API or `*1NUMBER#`), numbers rung into a room (API), guests who open an invitation link, and
supervisors rung at a number: each names its purpose, and the rules of that purpose decide
(which countries, which kinds of number, how many an hour per agent and per link, how many
at once per room, counting calls still ringing). `policy` decides, pure; `gate` counts, records
every decision in `outbound_dials` and refuses with an HTTP status.
"""

from pbx_engine.outbound.policy import (
    Destination,
    DialCounts,
    NumberKind,
    OutboundDecision,
    Purpose,
    PurposeRules,
    classify,
    decide,
)

__all__ = [
    "Destination",
    "DialCounts",
    "NumberKind",
    "OutboundDecision",
    "Purpose",
    "PurposeRules",
    "classify",
    "decide",
]
