"""How Asterisk is told whom to ring: the PJSIP dial strings, built in one place.

A number on the carrier goes out through the trunk's endpoint (`PJSIP/{number}@{trunk}`); a
softphone registered to us is rung by its own endpoint (`PJSIP/{endpoint}`). Values are not
checked here: the REST client refuses control characters in anything it sends.
"""

from __future__ import annotations

# A guest's browser, named where a number would be: `browser:<its PJSIP endpoint>`.
BROWSER_TARGET = "browser:"


def dial_string(number: str, trunk: str) -> str:
    """A phone number, rung through the trunk's PJSIP endpoint."""
    return f"PJSIP/{number}@{trunk}"


def endpoint_dial_string(endpoint: str) -> str:
    """A softphone, rung directly by its PJSIP endpoint."""
    return f"PJSIP/{endpoint}"


def target_dial_string(target: str, trunk: str) -> str:
    """A number through the trunk, or a guest's browser (`browser:<endpoint>`) by its endpoint."""
    if target.startswith(BROWSER_TARGET):
        return endpoint_dial_string(target.removeprefix(BROWSER_TARGET))
    return dial_string(target, trunk)
