"""Agents' roles: supervisors and admins see and act on every call, an agent on his own."""

from __future__ import annotations

SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})


def may_supervise(role: str) -> bool:
    return role in SUPERVISOR_ROLES
