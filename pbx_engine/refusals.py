"""A request the engine cannot meet as asked, with the HTTP status that says why.

Services raise subclasses (a room that is full, a call that is not being recorded, a
supervisor who is not on a call); the HTTP layer turns any of them into that status and the
message, without knowing each service's errors.
"""

from __future__ import annotations

from datetime import timedelta


class Refused(Exception):
    # When trying again may succeed (the HTTP layer's Retry-After); None: no use waiting.
    retry_after: timedelta | None = None

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status
