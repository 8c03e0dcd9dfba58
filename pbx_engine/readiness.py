"""Readiness: whether the engine can do its work now, for `GET /ready`.

Ready means: the ARI events websocket is up and our Stasis app is registered (a call sent into
`Stasis()` fails otherwise), PostgreSQL takes writes (a standby or an unreachable server would
lose every outcome), AMI is logged in when it is configured, and calls are being recorded (the
recording check at start passed, and not every one of the last recorded calls failed: see
`pbx_engine.recording.health`). Each check is bounded by a
short timeout, so a probe answers even while a dependency hangs. The problems are named in
plain words that reveal no host, account or error text: the probe needs no credentials.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pbx_engine.ami import AmiClient
from pbx_engine.ari import AriClient, AriError, AriUnavailable
from pbx_engine.recording.health import RecordingHealth
from pbx_engine.storage import Storage

CHECK_TIMEOUT = 2.0  # seconds per check; probes run every few seconds


@dataclass(frozen=True)
class Readiness:
    problems: dict[str, str | None]  # check -> what is wrong, None when it passed

    @property
    def ready(self) -> bool:
        return all(problem is None for problem in self.problems.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "checks": {name: problem or "ok" for name, problem in self.problems.items()},
            "not_ready": [name for name, problem in self.problems.items() if problem],
        }


async def ari_problem(ari: AriClient, timeout: float = CHECK_TIMEOUT) -> str | None:
    if not ari.connected.is_set():
        return "events websocket not connected"
    try:
        async with asyncio.timeout(timeout):
            await ari.get_application()
    except (AriError, AriUnavailable, TimeoutError):
        return "Stasis application not registered"
    return None


async def check_readiness(
    ari: AriClient,
    storage: Storage,
    ami: AmiClient | None,
    timeout: float = CHECK_TIMEOUT,
    *,
    recording: RecordingHealth | None = None,
) -> Readiness:
    ari_check, database_check = await asyncio.gather(
        ari_problem(ari, timeout), storage.write_problem(timeout)
    )
    problems = {"ari": ari_check, "database": database_check}
    if ami is not None:
        problems["ami"] = None if ami.logged_in else "not logged in"
    if recording is not None:
        problems["recording"] = recording.problem(datetime.now(UTC))
    return Readiness(problems)
