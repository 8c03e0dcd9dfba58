"""How Asterisk is told whom to ring: the PJSIP dial strings, built in one place.

A number on the carrier goes out through the trunk's endpoint (`PJSIP/{number}@{trunk}`); a
softphone registered to us is rung by its own endpoint (`PJSIP/{endpoint}`). Values are not
checked here: the REST client refuses control characters in anything it sends.
"""

from __future__ import annotations


def dial_string(number: str, trunk: str) -> str:
    """A phone number, rung through the trunk's PJSIP endpoint."""
    return f"PJSIP/{number}@{trunk}"


def endpoint_dial_string(endpoint: str) -> str:
    """A softphone, rung directly by its PJSIP endpoint."""
    return f"PJSIP/{endpoint}"
