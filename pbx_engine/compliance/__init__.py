"""Compliance: may this debtor be called now? Calling windows in the debtor's local time, attempt
caps over a rolling window, cool-off after a conversation or an abandoned call, the do-not-call
list; the rules come as named profiles (us, uk, fr, plain). Pure decisions: no I/O, no clock."""

from pbx_engine.compliance.policy import DialDecision, PastAttempt, may_dial
from pbx_engine.compliance.profiles import PROFILES, CallingWindow, ComplianceProfile, profile

__all__ = [
    "PROFILES",
    "CallingWindow",
    "ComplianceProfile",
    "DialDecision",
    "PastAttempt",
    "may_dial",
    "profile",
]
