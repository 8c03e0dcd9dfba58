"""Storage: PostgreSQL migrations from `sql/`, the asyncpg pool and every query the engine runs."""

from pbx_engine.storage.migrations import MigrationError, migrate
from pbx_engine.storage.models import Attempt, CaseMatch
from pbx_engine.storage.queries import Storage, StorageUnavailable

__all__ = ["Attempt", "CaseMatch", "MigrationError", "Storage", "StorageUnavailable", "migrate"]
