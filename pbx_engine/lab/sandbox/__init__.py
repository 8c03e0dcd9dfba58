"""Sandboxes: private Asterisk, "PSTN" Asterisk, SIP peers and PostgreSQL for tests and the demo.

Each sandbox runs in a runtime folder of its own on free ports, reports a missing binary or a
taken port clearly, and removes what it started when it stops, even after a failure."""

from pbx_engine.lab.sandbox.asterisk import (
    AsteriskSandbox,
    EngineSandbox,
    PstnBehaviour,
    PstnSandbox,
    Telephony,
)
from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import PortInUse
from pbx_engine.lab.sandbox.sipp import SippPhone

__all__ = [
    "AsteriskSandbox",
    "EngineSandbox",
    "PortInUse",
    "PstnBehaviour",
    "PstnSandbox",
    "SandboxError",
    "SippPhone",
    "Telephony",
]
