"""Records through database outages: no call placed that cannot be written down, and the writes
of calls already up owed and made once the database answers again."""

from pbx_engine.recordkeeper.keeper import NotRecording, RecordKeeper, RecordsHealth
from pbx_engine.recordkeeper.stores import kept_storage

__all__ = ["NotRecording", "RecordKeeper", "RecordsHealth", "kept_storage"]
