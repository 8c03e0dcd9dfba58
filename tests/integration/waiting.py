"""`eventually` moved to tests/waiting.py (unit tests use it too); kept here for older imports."""

from tests.waiting import eventually

__all__ = ["eventually"]
