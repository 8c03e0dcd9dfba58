"""What the fault tests share: a floor of their own (a PBX pair, a PostgreSQL cluster, an engine
on them and two agents logged in), cases whose phones behave as told, and the invariant
checker run once the floor has gone quiet."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import parse_config
from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.invariants import CallWatch, agent_views, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.lab.tcp_proxy import TcpProxy
from pbx_engine.outbound.policy import SAFE_KINDS
from tests.integration.waiting import eventually
from tests.waiting import now

# The first two are the floor's agents; the tests that need more ask for them (`agents`).
ALL_LOGINS = {"anna": "agent-001", "piotr": "agent-002", "olga": "agent-003", "marek": "agent-004"}
ALL_AGENTS = {endpoint: f"{endpoint}-secret" for endpoint in ALL_LOGINS.values()}
LOGINS = dict(list(ALL_LOGINS.items())[:2])


@dataclass
class Floor:
    engine: Engine
    telephony: Telephony
    database: PostgresSandbox
    phones: dict[str, SippPhone]  # by agent login
    ari_proxy: TcpProxy | None = None


@asynccontextmanager
async def own_floor(
    name: str,
    *,
    ari_proxied: bool = False,
    ari: Mapping[str, object] | None = None,
    agent_rtp_timeout: int | None = None,
    database_options: Mapping[str, object] | None = None,
    inbound: Mapping[str, object] | None = None,
    agents: int = 2,
    logged_in: int | None = None,
    wrap_up_seconds: float = 0.5,
) -> AsyncIterator[Floor]:
    """A PBX pair, a PostgreSQL cluster, an engine on them, two agents logged in.

    `ari_proxied`: the engine reaches ARI (REST and events) through a TcpProxy the test
    controls (`floor.ari_proxy`); `ari`, `database_options`: more [ari], [database]
    settings; `inbound`: [inbound] settings; `agent_rtp_timeout`: seconds without audio from
    a softphone before its PBX hangs it up. `agents`: how many agents have a phone (up to
    four), `logged_in`: how many of them are logged in at the start (all if None)."""
    async with AsyncExitStack() as stack:
        options = {} if agent_rtp_timeout is None else {"agent_rtp_timeout": agent_rtp_timeout}
        logins = dict(list(ALL_LOGINS.items())[:agents])
        secrets = {endpoint: ALL_AGENTS[endpoint] for endpoint in logins.values()}
        telephony = await stack.enter_async_context(Telephony.create(agents=secrets, **options))
        database = await stack.enter_async_context(PostgresSandbox())
        dsn = await database.create_database(name)
        pbx = telephony.engine
        proxy = None
        if ari_proxied:
            proxy = await stack.enter_async_context(TcpProxy("127.0.0.1", pbx.http_port))
        config = parse_config(
            {
                "ari": {
                    "url": proxy.url if proxy else pbx.ari_url,
                    "username": pbx.ari_username,
                    "password": pbx.ari_password,
                    "reconnect_initial": 0.2,
                    "reconnect_max": 1.0,
                    **(ari or {}),
                },
                "database": {"dsn": dsn, "allow_superuser": True, **(database_options or {})},
                "dialer": {"ring_timeout": 8, "caller_id": "+12025550999"},
                "agents": {"wrap_up_seconds": wrap_up_seconds},
                "inbound": dict(inbound or {}),
                "shutdown_grace": 5,
                "outbound": {"purposes": {"campaign": {"kinds": [*SAFE_KINDS, "unknown"]}}},
            },
            f"{name}-test",
            environ={},
        )
        engine = await stack.enter_async_context(build_engine(config))
        phones = {}
        for index, (login, endpoint) in enumerate(logins.items()):
            phones[login] = await stack.enter_async_context(
                SippPhone(endpoint, secrets[endpoint], pbx.sip_host, pbx.sip_port)
            )
            await engine.storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint)
            if logged_in is None or index < logged_in:
                await engine.agents.login(login)
        yield Floor(engine, telephony, database, phones, proxy)


# The fault tests' campaign: the first two are up when the fault comes (a person talking to an
# agent, who listens 20 s, and a line ringing to its 8 s timeout); the rest wait for it.
MIXED = [
    PstnBehaviour.HUMAN,
    PstnBehaviour.NO_ANSWER,
    PstnBehaviour.BUSY,
    PstnBehaviour.MACHINE,
    PstnBehaviour.REJECT,
]


async def progressive_campaign(
    engine: Engine, name: str, behaviours: list[PstnBehaviour] = MIXED, max_lines: int = 2
) -> CampaignRunner:
    """A progressive campaign on two lines (or `max_lines`), one case a behaviour; not
    started."""
    config = CampaignConfig(
        name=name, dial_mode="progressive", compliance="plain", max_lines=max_lines
    )
    runner = await engine.add_campaign(config)
    await add_cases(engine, runner.campaign_id, behaviours)
    return runner


def case_number(behaviours: list[PstnBehaviour], index: int) -> str:
    """The number `add_cases` gives the case at `index`."""
    return behaviours[index].number(f"+120255520{index}")


async def add_cases(engine: Engine, campaign_id: int, behaviours: list[PstnBehaviour]) -> None:
    """One case a behaviour, in this order of priority, one number each."""
    for index in range(len(behaviours)):
        await engine.storage.cases.upsert_case(
            creditor="Acme",
            reference=f"F-{index}",
            debtor_name=f"Debtor {index}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            # +1 202 555 2IB: I the case's index, B its behaviour.
            numbers=[(case_number(behaviours, index), "mobile")],
            campaign_id=campaign_id,
        )


# Calls in every state when a fault comes, by priority. The first three go out together to the
# three agents logged in: two people answer (one hangs up at once, leaving his agent in a 10 s
# wrap-up) and a line rings. The machine goes to the fourth agent once he logs in, and is under
# AMD when the fault comes. The last two, and a callback falling due 6 s later, wait for it.
EVERY_STATE = [
    PstnBehaviour.HUMAN,
    PstnBehaviour.HUMAN,
    PstnBehaviour.NO_ANSWER,
    PstnBehaviour.MACHINE,
    PstnBehaviour.BUSY,
    PstnBehaviour.REJECT,
]
EVERY_STATE_FLOOR = {"agents": 4, "logged_in": 3, "wrap_up_seconds": 10.0}  # own_floor's
CALLBACK_NUMBER = PstnBehaviour.BUSY.number("+120255529")


@dataclass(frozen=True)
class EveryState:
    up: set[str]  # the channels of the calls up: bridged, under AMD, ringing
    wrapping: str  # the agent in wrap-up
    under_amd: str  # the machine's channel


async def every_state_campaign(engine: Engine, name: str) -> CampaignRunner:
    return await progressive_campaign(engine, name, EVERY_STATE, max_lines=4)


async def calls_by_number(engine: Engine) -> dict[str, list]:
    """The attempts by the number dialled, oldest first."""
    rows = await engine.storage.pool.fetch("SELECT * FROM call_attempts ORDER BY id")
    found: dict[str, list] = {}
    for row in rows:
        found.setdefault(row["dialled"], []).append(row)
    return found


async def bring_every_state(floor: Floor) -> EveryState:
    """On an `EVERY_STATE_FLOOR` whose `every_state_campaign` has started: waits for two calls
    bridged and one ringing, ends one of the bridged (his agent goes into wrap-up), asks for a
    callback due in 6 s, logs the fourth agent in and waits for the machine under AMD."""
    engine = floor.engine

    def number(index: int) -> str:
        return case_number(EVERY_STATE, index)

    async def two_bridged_one_ringing():
        calls = await calls_by_number(engine)
        bridged = [calls[number(i)][0] for i in (0, 1) if number(i) in calls]
        ringing = calls.get(number(2), [None])[0]
        if len(bridged) == 2 and all(r["bridged_at"] for r in bridged):
            return bridged if ringing and ringing["ringing_at"] else None
        return None

    bridged = await eventually(
        two_bridged_one_ringing, timeout=20, what="two calls bridged, one ringing"
    )
    assert await floor.telephony.engine.hangup(bridged[1]["channel_id"])

    def in_wrap_up():
        return next((a.login for a in engine.agents.all() if a.state.value == "wrap_up"), None)

    wrapping = await eventually(now(in_wrap_up), timeout=10, what="an agent in wrap-up")
    case_id = await engine.storage.pool.fetchval("SELECT id FROM cases WHERE reference = 'F-1'")
    await engine.storage.pool.execute(
        "INSERT INTO callbacks (case_id, e164, due_at, source, priority) "
        "VALUES ($1, $2, now() + interval '6 seconds', 'agent', 1)",
        case_id,
        CALLBACK_NUMBER,
    )
    await engine.agents.login(list(ALL_LOGINS)[3])

    async def machine_under_amd():
        row = (await calls_by_number(engine)).get(number(3), [None])[0]
        return row if row and row["answered_at"] and not row["amd_status"] else None

    machine = await eventually(machine_under_amd, timeout=20, what="the machine under AMD")
    up = await engine.storage.pool.fetch(
        "SELECT channel_id FROM call_attempts WHERE ended_at IS NULL"
    )
    return EveryState({r["channel_id"] for r in up}, wrapping, machine["channel_id"])


async def first_two_up(engine: Engine) -> set[str]:
    """Waits for the campaign's first two calls to be up, one bridged to an agent and one
    ringing; their channels."""

    async def both_up():
        rows = await engine.storage.pool.fetch(
            "SELECT channel_id, bridged_at, ringing_at FROM call_attempts"
        )
        bridged = [r for r in rows if r["bridged_at"]]
        ringing = [r for r in rows if r["ringing_at"] and not r["bridged_at"]]
        return rows if len(rows) == 2 and bridged and ringing else None

    rows = await eventually(both_up, timeout=20, what="a call bridged and one ringing")
    return {r["channel_id"] for r in rows}


async def all_settled(engine: Engine, count: int, timeout: float = 30) -> None:
    """Waits for `count` calls placed and settled (one Asterisk refused before it rang is not a
    call) and none live."""

    async def settled():
        ended = await engine.storage.pool.fetchval(
            "SELECT count(*) FROM call_attempts "
            "WHERE ended_at IS NOT NULL AND outcome <> 'not_placed'"
        )
        return ended >= count and engine.dialer.active_calls == 0

    await eventually(settled, timeout=timeout, what=f"{count} calls settled")


async def violations_once_quiet(
    floor: Floor,
    watch: CallWatch,
    *,
    abandon_heard: Collection[str] | None = None,
    timeout: float = 15,
) -> list[str]:
    """The invariants, once the PBXs have let go of the last call (the violations if never)."""
    found: list = []

    async def clean():
        nonlocal found
        snapshot = await take_snapshot(
            floor.engine.storage.pool,
            floor.telephony.engine,
            floor.telephony.pstn,
            agents=agent_views(floor.engine.agents.all()),
            placed=watch.first_seen,
            abandon_heard=abandon_heard,
        )
        found = check(snapshot)
        return not found

    try:
        await eventually(clean, timeout=timeout, what="the invariants to hold")
    except AssertionError:
        pass
    return [str(v) for v in found]


def since(start: float) -> float:
    return time.monotonic() - start
