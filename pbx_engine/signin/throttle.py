"""Slowing down password guessing: after `limit` failed sign-ins for a login within `window`,
that login is refused until the window has passed since the first of them. Pure: the caller
gives the time; state is per engine process (a restart forgets it, which is acceptable)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class SignInThrottle:
    limit: int = 5
    window: timedelta = timedelta(minutes=5)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)

    def _recent(self, login: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(login, deque())
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        if failures:
            self._failures[login] = failures
        else:
            self._failures.pop(login, None)
        return failures

    def blocked_for(self, login: str, now: datetime) -> timedelta | None:
        """How long this login must wait before trying again (None: it may try now)."""
        failures = self._recent(login.lower(), now)
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def failed(self, login: str, now: datetime) -> None:
        key = login.lower()
        self._recent(key, now)
        self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, login: str) -> None:
        self._failures.pop(login.lower(), None)
