"""What must hold once a run has gone quiet, whatever faults it went through.

A fault test or a bench takes a `Snapshot` (the database, both PBXs through ARI, and, when it
has them, the engine's agents and what it saw itself) and asks `check` for the violations:

- every call the engine placed has exactly one attempt, settled with a final outcome, and no
  call of the engine is still up on either PBX;
- no case was dialled when its rules forbade it: each attempt is replayed through the dialer's
  own planner (`plan_calls`, which applies the campaign's retry rules and `may_dial`) with the
  history the case had at that moment;
- abandons add up: the abandoned flag and the outcome agree, each abandoned debtor has the
  callback the abandon message promised, and (when the caller watched) exactly the abandoned
  calls heard the message;
- no agent is stuck: an agent on a call has that call in his bridge, nobody stays reserved, a
  logged-in agent's softphone leg is up, and the last state on record is the one he is in;
- no helper channel (snoop, external media, local) or bridge outlives its call.

`check` is pure; `take_snapshot` does the reading.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import aiohttp
import asyncpg

from pbx_engine.agents.states import AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.cases.models import AttemptRecord, CaseCandidate, NumberHistory
from pbx_engine.dialer.schedule import plan_calls

FINAL_OUTCOMES = frozenset(
    "human machine screened silence fax busy no_answer rejected failed abandoned not_placed".split()
)
ENGINE_CALL_PREFIX = "out-"  # the dialer names its channels so (pbx_engine.dialer.service)
AGENT_LEG_PREFIX = "agent-"  # agent-<login>-<id>: an agent's softphone leg
AGENT_BRIDGE_PREFIX = "agent "  # "agent <login>": the bridge an agent keeps for his shift
HELPER_TECHNOLOGIES = ("Snoop/", "UnicastRTP/", "Local/")
ABANDON_SOURCE = "abandoned"


@dataclass(frozen=True)
class Violation:
    rule: str  # short, stable name: tests and benches count by it
    subject: str  # what broke it: a channel, a case, an agent, a bridge
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} [{self.subject}]: {self.detail}"


@dataclass(frozen=True)
class AttemptRow:
    channel_id: str
    direction: str
    created_at: datetime
    ended_at: datetime | None
    outcome: str
    case_id: int | None = None
    phone_number_id: int | None = None
    campaign_id: int | None = None
    bridged_at: datetime | None = None
    abandoned: bool = False


@dataclass(frozen=True)
class NumberRow:
    id: int
    e164: str
    position: int = 0
    kind: str = "unknown"


@dataclass(frozen=True)
class CaseRow:
    id: int
    campaign_id: int | None
    timezone: str | None
    numbers: tuple[NumberRow, ...]
    had_callbacks: bool = False  # callbacks are dialled outside the attempt caps


@dataclass(frozen=True)
class ChannelView:
    id: str
    name: str


@dataclass(frozen=True)
class BridgeView:
    id: str
    name: str
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class PbxView:
    label: str
    channels: tuple[ChannelView, ...] = ()
    bridges: tuple[BridgeView, ...] = ()


@dataclass(frozen=True)
class AgentView:
    login: str
    state: str  # an AgentState value
    leg: str | None = None
    bridge: str | None = None
    call: str | None = None
    last_recorded: str | None = None  # the last state in agent_state_changes


@dataclass(frozen=True)
class Snapshot:
    attempts: tuple[AttemptRow, ...]
    cases: dict[int, CaseRow]
    campaigns: dict[int, CampaignConfig]
    abandon_callbacks: frozenset[str]  # channels whose abandon left a callback
    engine_pbx: PbxView
    pstn_pbx: PbxView | None = None
    agents: tuple[AgentView, ...] | None = None  # None: not watched
    placed: frozenset[str] | None = None  # channels the caller saw the engine place
    abandon_heard: frozenset[str] | None = None  # channels the caller saw hear the message
    per_call_bridges: bool = False  # [agents] ring_per_call: bridges come and go per call


def check(snapshot: Snapshot) -> list[Violation]:
    """Every invariant, on a run that has gone quiet (no call meant to be up)."""
    return [
        *check_attempts(snapshot),
        *check_retry_rules(snapshot),
        *check_abandons(snapshot),
        *check_agents(snapshot),
        *check_leftovers(snapshot),
    ]


def check_attempts(snapshot: Snapshot) -> list[Violation]:
    found: list[Violation] = []
    by_channel: dict[str, list[AttemptRow]] = {}
    for attempt in snapshot.attempts:
        by_channel.setdefault(attempt.channel_id, []).append(attempt)
    for channel_id, rows in by_channel.items():
        if len(rows) > 1:
            found.append(Violation("one-attempt-per-call", channel_id, f"{len(rows)} attempts"))
        for row in rows:
            if row.ended_at is None or row.outcome not in FINAL_OUTCOMES:
                found.append(
                    Violation(
                        "attempt-settled",
                        channel_id,
                        f"outcome {row.outcome!r}, ended_at {row.ended_at}",
                    )
                )
    for channel_id in sorted((snapshot.placed or frozenset()) - by_channel.keys()):
        found.append(Violation("call-on-record", channel_id, "placed, but no attempt on record"))
    for channel in snapshot.engine_pbx.channels:
        if channel.id.startswith(ENGINE_CALL_PREFIX):
            detail = "still up" if channel.id in by_channel else "up, and no attempt on record"
            found.append(Violation("call-on-record", channel.id, detail))
    return found


def check_retry_rules(snapshot: Snapshot) -> list[Violation]:
    """Replay each campaign attempt through the planner with the case's history as it was."""
    found: list[Violation] = []
    by_case: dict[int, list[AttemptRow]] = {}
    for attempt in snapshot.attempts:
        if attempt.direction == "outbound" and attempt.case_id is not None:
            by_case.setdefault(attempt.case_id, []).append(attempt)
    for case_id, attempts in by_case.items():
        case = snapshot.cases.get(case_id)
        if case is None or case.had_callbacks:
            continue  # a callback is dialled when the debtor asked, outside the caps
        attempts.sort(key=lambda a: a.created_at)
        for index, attempt in enumerate(attempts):
            campaign = snapshot.campaigns.get(attempt.campaign_id or -1)
            if campaign is None:
                continue  # a test call, not a campaign's
            reason = _refusal_at(case, attempts[:index], campaign, attempt.created_at)
            if reason is not None:
                found.append(
                    Violation(
                        "dialled-within-rules",
                        f"case {case_id}",
                        f"{attempt.channel_id} at {attempt.created_at.isoformat()}: {reason}",
                    )
                )
    return found


def _refusal_at(
    case: CaseRow, earlier: Sequence[AttemptRow], campaign: CampaignConfig, at: datetime
) -> str | None:
    """Why the planner would not have dialled the case at `at` (None: it would have)."""
    numbers = tuple(
        NumberHistory(
            phone_number_id=number.id,
            e164=number.e164,
            position=number.position,
            kind=number.kind,
            attempts=tuple(
                AttemptRecord(
                    at=a.created_at,
                    # A call not over yet at that moment was still in progress.
                    ended_at=a.ended_at if a.ended_at and a.ended_at <= at else None,
                    outcome=a.outcome,
                    conversation=a.bridged_at is not None and a.bridged_at <= at,
                    abandoned=a.abandoned,
                )
                for a in earlier
                if a.phone_number_id == number.id
            ),
        )
        for number in case.numbers
    )
    candidate = CaseCandidate(case.id, numbers, timezone=case.timezone)
    plans, deferred = plan_calls([candidate], campaign, at, 1)
    if plans:
        return None
    return deferred[0].reason if deferred else "not planned"


def check_abandons(snapshot: Snapshot) -> list[Violation]:
    found: list[Violation] = []
    abandoned = set()
    for attempt in snapshot.attempts:
        if attempt.abandoned != (attempt.outcome == "abandoned"):
            found.append(
                Violation(
                    "abandon-counted",
                    attempt.channel_id,
                    f"abandoned flag {attempt.abandoned}, outcome {attempt.outcome!r}",
                )
            )
        if attempt.abandoned or attempt.outcome == "abandoned":
            abandoned.add(attempt.channel_id)
            if attempt.case_id is not None and attempt.channel_id not in (
                snapshot.abandon_callbacks
            ):
                found.append(
                    Violation(
                        "abandon-callback", attempt.channel_id, "abandoned and no callback owed"
                    )
                )
    if snapshot.abandon_heard is not None:
        for channel_id in sorted(snapshot.abandon_heard - abandoned):
            found.append(
                Violation("abandon-counted", channel_id, "heard the abandon message, not counted")
            )
        for channel_id in sorted(abandoned - snapshot.abandon_heard):
            found.append(
                Violation("abandon-counted", channel_id, "counted, never heard the message")
            )
    return found


def check_agents(snapshot: Snapshot) -> list[Violation]:
    if snapshot.agents is None:
        return []
    found: list[Violation] = []
    channels = {c.id for c in snapshot.engine_pbx.channels}
    bridges = {b.id: b for b in snapshot.engine_pbx.bridges}
    for agent in snapshot.agents:
        subject = f"agent {agent.login}"
        if agent.last_recorded is not None and agent.last_recorded != agent.state:
            found.append(
                Violation(
                    "agent-on-record",
                    subject,
                    f"is {agent.state}, last recorded {agent.last_recorded}",
                )
            )
        if agent.state == "logged_out":
            if agent.leg and agent.leg in channels:
                found.append(Violation("agent-stuck", subject, "logged out, softphone leg up"))
            continue
        if agent.state in ("reserved", "connecting"):
            found.append(Violation("agent-stuck", subject, f"{agent.state} with nothing going on"))
        if agent.state == "on_call":
            bridge = bridges.get(agent.bridge or "")
            if not agent.call or bridge is None or agent.call not in bridge.channels:
                found.append(Violation("agent-stuck", subject, f"on_call, call {agent.call} gone"))
        if snapshot.per_call_bridges:
            continue
        if not agent.leg or agent.leg not in channels:
            found.append(Violation("agent-stuck", subject, f"{agent.state}, softphone leg gone"))
        if not agent.bridge or agent.bridge not in bridges:
            found.append(Violation("agent-stuck", subject, f"{agent.state}, bridge gone"))
    return found


def check_leftovers(snapshot: Snapshot) -> list[Violation]:
    found: list[Violation] = []
    agents = snapshot.agents or ()
    logged_in = {a.login for a in agents if a.state != "logged_out"}
    legs = {a.leg for a in agents if a.state != "logged_out" and a.leg}
    for channel in snapshot.engine_pbx.channels:
        if channel.name.startswith(HELPER_TECHNOLOGIES):
            found.append(Violation("no-leftovers", channel.id, f"helper channel {channel.name}"))
        elif channel.id.startswith(AGENT_LEG_PREFIX):
            if snapshot.agents is not None and channel.id not in legs:
                found.append(Violation("no-leftovers", channel.id, "leg of no logged-in agent"))
        elif not channel.id.startswith(ENGINE_CALL_PREFIX):  # those are check_attempts'
            found.append(Violation("no-leftovers", channel.id, f"channel {channel.name} up"))
    for bridge in snapshot.engine_pbx.bridges:
        login = bridge.name.removeprefix(AGENT_BRIDGE_PREFIX)
        if bridge.name.startswith(AGENT_BRIDGE_PREFIX) and (
            snapshot.agents is None or login in logged_in
        ):
            continue
        found.append(Violation("no-leftovers", bridge.id, f"bridge {bridge.name!r} left"))
    if snapshot.pstn_pbx is not None:
        for channel in snapshot.pstn_pbx.channels:
            found.append(
                Violation("no-leftovers", channel.id, f"{snapshot.pstn_pbx.label}: {channel.name}")
            )
    return found


# ---------------------------------------------------------------------- reading


class Pbx(Protocol):
    """Where a PBX's ARI answers (an AsteriskSandbox is one)."""

    @property
    def ari_url(self) -> str: ...

    @property
    def ari_headers(self) -> dict[str, str]: ...


def agent_views(statuses: Iterable[AgentStatus]) -> list[AgentView]:
    """The engine's agents as the checker looks at them."""
    return [
        AgentView(s.login, s.state.value, s.channel_id, s.bridge_id, s.call_id) for s in statuses
    ]


async def read_pbx(label: str, ari_url: str, headers: dict[str, str]) -> PbxView:
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(f"{ari_url}/ari/channels") as response:
            response.raise_for_status()
            channels = await response.json()
        async with http.get(f"{ari_url}/ari/bridges") as response:
            # A PBX without res_ari_bridges (the phone network's) has none to leave behind.
            bridges = [] if response.status == 404 else await response.json()
            if response.status != 404:
                response.raise_for_status()
    return PbxView(
        label,
        tuple(ChannelView(c["id"], c.get("name", "")) for c in channels),
        tuple(
            BridgeView(b["id"], b.get("name", ""), tuple(b.get("channels", ()))) for b in bridges
        ),
    )


async def read_records(
    db: asyncpg.Pool | asyncpg.Connection,
) -> tuple[tuple[AttemptRow, ...], dict[int, CaseRow], dict[int, CampaignConfig], frozenset[str]]:
    """Attempts, the cases they concern, the campaigns' rules and the abandons' callbacks."""
    attempts = tuple(
        AttemptRow(**dict(row))
        for row in await db.fetch(
            "SELECT channel_id, direction, created_at, ended_at, outcome, case_id, "
            "phone_number_id, campaign_id, bridged_at, abandoned FROM call_attempts ORDER BY id"
        )
    )
    case_ids = sorted({a.case_id for a in attempts if a.case_id is not None})
    cases: dict[int, CaseRow] = {}
    for row in await db.fetch(
        """SELECT c.id, c.campaign_id, c.timezone,
                  EXISTS (SELECT 1 FROM callbacks cb WHERE cb.case_id = c.id
                          AND cb.source <> 'abandoned') AS had_callbacks,
                  coalesce(array_agg(n.id ORDER BY n.position)
                           FILTER (WHERE n.id IS NOT NULL), '{}') AS number_ids,
                  coalesce(array_agg(n.e164 ORDER BY n.position)
                           FILTER (WHERE n.id IS NOT NULL), '{}') AS e164s,
                  coalesce(array_agg(n.position ORDER BY n.position)
                           FILTER (WHERE n.id IS NOT NULL), '{}') AS positions,
                  coalesce(array_agg(n.kind ORDER BY n.position)
                           FILTER (WHERE n.id IS NOT NULL), '{}') AS kinds
           -- Numbers retired since (a wrong party) were dialable when they were dialled.
           FROM cases c LEFT JOIN phone_numbers n ON n.case_id = c.id
           WHERE c.id = ANY($1::bigint[]) GROUP BY c.id""",
        case_ids,
    ):
        numbers = tuple(
            NumberRow(*values)
            for values in zip(
                row["number_ids"], row["e164s"], row["positions"], row["kinds"], strict=True
            )
        )
        cases[row["id"]] = CaseRow(
            row["id"], row["campaign_id"], row["timezone"], numbers, row["had_callbacks"]
        )
    campaigns = {
        row["id"]: CampaignConfig.model_validate_json(row["settings"])
        for row in await db.fetch("SELECT id, settings::text AS settings FROM campaigns")
        if row["settings"] not in (None, "{}")
    }
    abandon_callbacks = frozenset(
        row["channel_id"]
        for row in await db.fetch(
            "SELECT channel_id FROM callbacks WHERE source = $1 AND channel_id IS NOT NULL",
            ABANDON_SOURCE,
        )
    )
    return attempts, cases, campaigns, abandon_callbacks


async def last_recorded_states(
    db: asyncpg.Pool | asyncpg.Connection, logins: Iterable[str]
) -> dict[str, str]:
    rows = await db.fetch(
        """SELECT DISTINCT ON (a.login) a.login, s.state
           FROM agent_state_changes s JOIN agents a ON a.id = s.agent_id
           WHERE a.login = ANY($1::text[]) ORDER BY a.login, s.at DESC, s.id DESC""",
        list(logins),
    )
    return {row["login"]: row["state"] for row in rows}


async def take_snapshot(
    db: asyncpg.Pool | asyncpg.Connection,
    engine_pbx: Pbx,
    pstn_pbx: Pbx | None = None,
    *,
    agents: Collection[AgentView] | None = None,
    placed: Collection[str] | None = None,
    abandon_heard: Collection[str] | None = None,
    per_call_bridges: bool = False,
) -> Snapshot:
    """Read everything `check` looks at. `agents` as the engine holds them (their last state on
    record is read here); `placed` and `abandon_heard` as the caller watched them."""
    attempts, cases, campaigns, abandon_callbacks = await read_records(db)
    if agents is not None:
        recorded = await last_recorded_states(db, [a.login for a in agents])
        agents = tuple(
            AgentView(a.login, a.state, a.leg, a.bridge, a.call, recorded.get(a.login))
            for a in agents
        )
    return Snapshot(
        attempts=attempts,
        cases=cases,
        campaigns=campaigns,
        abandon_callbacks=abandon_callbacks,
        engine_pbx=await read_pbx("engine", engine_pbx.ari_url, engine_pbx.ari_headers),
        pstn_pbx=(
            await read_pbx("pstn", pstn_pbx.ari_url, pstn_pbx.ari_headers) if pstn_pbx else None
        ),
        agents=tuple(agents) if agents is not None else None,
        placed=frozenset(placed) if placed is not None else None,
        abandon_heard=frozenset(abandon_heard) if abandon_heard is not None else None,
        per_call_bridges=per_call_bridges,
    )


class CallWatch:
    """Watches a PBX from outside the engine: every call of the engine's it sees up, with when
    it was first seen (clock seconds). A witness that does not trust the engine's records: a
    call placed and never written down shows here. Polls every `interval` seconds, so a call
    shorter than that may pass unseen."""

    def __init__(self, pbx: Pbx, *, interval: float = 0.2) -> None:
        self._pbx = pbx
        self._interval = interval
        self.first_seen: dict[str, float] = {}
        self.up: set[str] = set()  # at the last look
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CallWatch:
        await self.look()
        self._task = asyncio.create_task(self._poll(), name="call-watch")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def seen_between(self, start: float, end: float) -> list[str]:
        """Calls first seen in [start, end] (clock seconds)."""
        return sorted(c for c, at in self.first_seen.items() if start <= at <= end)

    async def look(self) -> set[str]:
        view = await read_pbx("watched", self._pbx.ari_url, self._pbx.ari_headers)
        now = time.monotonic()
        self.up = {c.id for c in view.channels if c.id.startswith(ENGINE_CALL_PREFIX)}
        for channel_id in self.up:
            self.first_seen.setdefault(channel_id, now)
        return self.up

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.look()
            except aiohttp.ClientError:
                continue  # the PBX restarting: look again


class AbandonWitness:
    """Hears, from outside the engine, which calls were played the abandon message: an ARI
    application of its own subscribed to everything on the PBX (`subscribeAll`), noting each
    playback of `message` and the channel it played to."""

    def __init__(self, pbx: Pbx, message: str = "sound:vm-goodbye", app: str = "witness") -> None:
        self._pbx = pbx
        self._message = message
        self._app = app
        self.heard: set[str] = set()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> AbandonWitness:
        self._session = aiohttp.ClientSession(headers=self._pbx.ari_headers)
        url = f"{self._pbx.ari_url}/ari/events?app={self._app}&subscribeAll=true"
        socket = await self._session.ws_connect(url, heartbeat=10)
        self._task = asyncio.create_task(self._read(socket), name="abandon-witness")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        async for message in socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = message.json()
            playback = event.get("playback") or {}
            target = playback.get("target_uri", "")
            if (
                event.get("type") == "PlaybackStarted"
                and playback.get("media_uri") == self._message
                and target.startswith("channel:")
            ):
                self.heard.add(target.removeprefix("channel:"))


async def violations_when_quiet(
    db: asyncpg.Pool | asyncpg.Connection,
    engine_pbx: Pbx,
    pstn_pbx: Pbx | None,
    agents: Callable[[], Collection[AgentView]] | None = None,
    *,
    timeout: float = 15.0,
    interval: float = 0.5,
) -> list[Violation]:
    """The violations once the PBXs have let go of the run's last calls (a hang-up takes a
    moment to cross both): checked until none is left or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await take_snapshot(
            db, engine_pbx, pstn_pbx, agents=agents() if agents is not None else None
        )
        found = check(snapshot)
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(interval)
