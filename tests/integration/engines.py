"""Engines as ops run them, for the tests that kill, cut off or start several: `pbx-engine run`
with a TOML file written from settings, the bits of its HTTP API those tests call, and a floor
of two engines sharing one database and one PBX."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp
import asyncpg

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.invariants import CallWatch, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import Telephony
from pbx_engine.lab.sandbox.kamailio import KamailioSandbox
from pbx_engine.lab.sandbox.netns import Link, TestHost
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.lab.tcp_proxy import TcpProxy
from pbx_engine.storage import Storage, migrate
from tests.waiting import eventually


def as_toml(settings: dict, prefix: str = "") -> str:
    """Enough TOML for these settings: strings, numbers, booleans, lists, nested tables."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):  # an inline table, e.g. in a list of them
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return str(v)

    lines = [f"[{prefix}]"] if prefix else []
    lines += [f"{k} = {value(v)}" for k, v in settings.items() if not isinstance(v, dict)]
    tables = [
        as_toml(table, f"{prefix}.{name}" if prefix else name)
        for name, table in settings.items()
        if isinstance(table, dict)
    ]
    return "\n".join(lines) + "\n\n" + "".join(tables)


@asynccontextmanager
async def engine_process(
    config_file: Path, log_file: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`pbx-engine run` as ops run it; killed with SIGKILL on the way out if still alive."""
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx_engine.cli", "run", "--config", str(config_file),
            stdout=log, stderr=log,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()


class Api:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def post(self, path: str, token: str) -> tuple[int, dict]:
        async with self.http.post(
            f"{self.base}{path}", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status, await response.json()

    async def up(self, token: str) -> bool:
        try:
            async with self.http.get(
                f"{self.base}/agents/me", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False


async def placed(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    """Every call on record, in the order placed, with who placed it."""
    return await pool.fetch(
        "SELECT channel_id, case_id, dialled, placed_by, node, created_at, answered_at, "
        "bridged_at, ended_at, outcome FROM call_attempts ORDER BY id"
    )


async def calls_by(pool: asyncpg.Pool, engine: str) -> list[asyncpg.Record]:
    """The calls on record that `engine` placed (or took over), in the order placed."""
    return [r for r in await placed(pool) if r["placed_by"] == engine]


def all_ended(pool: asyncpg.Pool, engine: str):
    """A probe for `eventually`: `engine`'s calls, once every one has ended on record."""

    async def probe() -> list[asyncpg.Record] | None:
        rows = await calls_by(pool, engine)
        return rows if all(r["ended_at"] for r in rows) else None

    return probe


def agents_taken_over(pool: asyncpg.Pool, logins: set[str]):
    """A probe for `eventually`: whether exactly these agents were taken over from an engine
    found gone."""

    async def probe() -> bool:
        rows = await pool.fetch(
            "SELECT DISTINCT a.login FROM agent_state_changes s JOIN agents a "
            "ON a.id = s.agent_id WHERE s.reason LIKE 'taken over from %'"
        )
        return {r["login"] for r in rows} == logins

    return probe


@dataclass(frozen=True)
class KilledMidCall:
    talking: asyncpg.Record  # the conversation's row, as it was before the kill
    ringing: asyncpg.Record
    took_after: float  # seconds from the kill to engine-b holding the campaign
    calls_after: float  # ... and to engine-b having both calls


async def kill_a_mid_call(floor: TwoEngines, talking: str, ringing: str) -> KilledMidCall:
    """Once engine-a has a debtor (number `talking`) with one of its agents and a line
    (`ringing`) ringing: engine-a SIGKILLed; engine-b holds the campaign, takes over both calls,
    and engine-a's agents in their bridges."""
    pool = floor.pool

    async def talking_and_ringing():
        rows = {r["dialled"]: r for r in await placed(pool)}
        up, rings = rows.get(talking), rows.get(ringing)
        return (up, rings) if up and up["bridged_at"] and rings and not rings["ended_at"] else None

    up, rings = await eventually(
        talking_and_ringing, timeout=30, what="a debtor with an agent, a line ringing"
    )
    assert {up["placed_by"], rings["placed_by"]} == {"engine-a"}
    engine_a = floor.processes["engine-a"]
    engine_a.send_signal(signal.SIGKILL)
    await engine_a.wait()
    killed_at = time.monotonic()
    took_after = await held_by(pool, floor.campaign_id, "engine-b", since=killed_at)

    async def taken_over():
        rows = {r["dialled"]: r for r in await placed(pool)}
        return all(rows[n]["placed_by"] == "engine-b" for n in (talking, ringing)) or None

    await eventually(taken_over, timeout=15, what="engine-b taking over engine-a's calls")
    calls_after = time.monotonic() - killed_at
    logins = {login for login, _ in ENGINE_AGENTS["engine-a"]}
    await eventually(agents_taken_over(pool, logins), timeout=15, what="its agents taken over")
    return KilledMidCall(up, rings, took_after, calls_after)


async def b_dials_on(
    floor: TwoEngines, campaign: str, others: list[str], took_after: float
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """After engine-a was killed and engine-b took its calls: engine-b dials the next cases
    (numbers in `others`) within 20 s, its campaign is stopped, every call settles, all of them
    engine-b's (engine-a's taken over), the campaign held within 10 s of the kill. The calls
    engine-b dialled, and every call."""

    async def dialled_by_b():
        return [r for r in await placed(floor.pool) if r["dialled"] in others] or None

    mine = await eventually(dialled_by_b, timeout=20, what="engine-b dialling the next case")
    status, body = await floor.apis["engine-b"].post(f"/campaigns/{campaign}/stop", floor.admin)
    assert status == 200, body
    rows = await floor.settled()
    assert {r["placed_by"] for r in rows} == {"engine-b"}  # engine-a's taken over
    assert took_after < 10.0, f"engine-b took over {took_after:.1f} s after the kill"
    return mine, rows


async def holds(pool: asyncpg.Pool, campaign_id: int, engine: str) -> bool:
    """Whether `engine` holds the campaign's lease now."""
    holder = await pool.fetchval(
        "SELECT holder FROM campaign_leases WHERE campaign_id = $1 AND expires_at > now()",
        campaign_id,
    )
    return holder == engine


async def held_by(pool: asyncpg.Pool, campaign_id: int, engine: str, since: float) -> float:
    """Seconds from `since` (clock) until `engine` holds the campaign."""
    await eventually(
        lambda: holds(pool, campaign_id, engine),
        timeout=15,
        interval=0.1,
        what=f"{engine} holding the campaign",
    )
    return time.monotonic() - since


@dataclass
class TwoEngines:
    """Engines "engine-a" and "engine-b" (`pbx-engine run`) sharing one PostgreSQL, which runs
    in a test host of its own: engine-a reaches it over a link of its own (`a_link`, which a
    test may cut), engine-b and the test over another. They share one PBX pair, or with
    `pbx_per_engine` each has its own (a media node each). Each engine has its own ARI app and
    its own agents logged in (engine-a two, engine-b one); the campaign is started on engine-a
    first (it holds the lease), then on engine-b (standing by)."""

    telephonies: dict[str, Telephony]  # each engine's PBX pair (one pair twice when shared)
    pool: asyncpg.Pool
    a_link: Link
    campaign_id: int
    apis: dict[str, Api]
    admin: str
    processes: dict[str, asyncio.subprocess.Process]
    watches: dict[str, CallWatch]  # each engine's PBX watched from outside
    logs: dict[str, Path]  # each engine's own log (JSON lines)
    # With `cluster`: the media nodes both engines drive, by name, each watched from outside.
    nodes: dict[str, tuple[Telephony, CallWatch]] = field(default_factory=dict)
    # With `b_ari_proxied`: the path engine-b reaches its PBX's ARI over, which a test may cut.
    b_ari_proxy: TcpProxy | None = None

    def logged(self, engine: str, event: str):
        """A probe for `eventually`: whether `engine`'s log has said `event` (JSON lines)."""

        async def probe() -> bool:
            return f'"event": "{event}"' in self.logs[engine].read_text(errors="replace")

        return probe

    @property
    def telephony(self) -> Telephony:
        return self.telephonies["engine-a"]

    @property
    def watch(self) -> CallWatch:
        return self.watches["engine-a"]

    async def settled(self) -> list[asyncpg.Record]:
        """Once every call has ended (on record and on every PBX): no case dialled twice, every
        call a PBX saw on record, and the invariant checker content on each PBX. The calls on
        record."""
        pairs = {id(t): (t, self.watches[name]) for name, t in self.telephonies.items()}
        pairs.update({id(t): (t, watch) for t, watch in self.nodes.values()})

        async def quiet():
            rows = await placed(self.pool)
            ended = all(r["ended_at"] for r in rows)
            return rows if ended and not any(watch.up for _, watch in pairs.values()) else None

        rows = await eventually(quiet, timeout=40, what="every call ended")
        dialled = [r["case_id"] for r in rows]
        assert len(dialled) == len(set(dialled)), f"a case dialled twice: {rows}"
        # Every call a PBX saw is on record (a call whose node died as it was placed may be on
        # record and never seen).
        seen = {channel for _, watch in pairs.values() for channel in watch.first_seen}
        assert seen <= {r["channel_id"] for r in rows}, seen - {r["channel_id"] for r in rows}
        for telephony, watch in pairs.values():
            snapshot = await take_snapshot(
                self.pool, telephony.engine, telephony.pstn, placed=watch.first_seen
            )
            assert [str(v) for v in check(snapshot)] == []
        return rows


# Each engine's agents (login, softphone): agents are each engine's own.
ENGINE_AGENTS = {
    "engine-a": [("anna", "agent-001"), ("piotr", "agent-003")],
    "engine-b": [("olga", "agent-002")],
}
ALL_AGENTS = [agent for agents in ENGINE_AGENTS.values() for agent in agents]


def _secrets(agents) -> dict[str, str]:
    return {endpoint: f"{endpoint}-secret" for _, endpoint in agents}


@asynccontextmanager
async def two_engines(
    tmp_path: Path,
    numbers: list[str],
    *,
    campaign: str,
    ring_timeout: float,
    pbx_per_engine: bool = False,
    cluster: bool = False,
    max_lines: int = 2,
    b_ari_proxied: bool = False,
    campaign_settings: dict | None = None,
    engine_settings: dict | None = None,
    agents_of_a: bool = True,
) -> AsyncIterator[TwoEngines]:
    """The floor above, with one case per number (dialled in this order), progressive (unless
    `campaign_settings` say otherwise), `max_lines` lines per engine. With `cluster`, both
    engines drive two media nodes (m1, m2: `nodes`), and every softphone registers through
    Kamailio in front of them, which puts it on one. With `b_ari_proxied`, engine-b reaches
    ARI through a TCP proxy (`b_ari_proxy`). `engine_settings`: more tables for both engines'
    files; without `agents_of_a`, engine-a's agents do not log in."""
    async with AsyncExitStack() as stack:
        db_host = await stack.enter_async_context(TestHost("db"))
        proxy, nodes = None, {}
        if cluster:
            proxy, nodes = await _cluster(stack)
            telephonies = dict.fromkeys(ENGINE_AGENTS, nodes["m1"])
        elif pbx_per_engine:
            telephonies = {
                name: await stack.enter_async_context(Telephony.create(agents=_secrets(agents)))
                for name, agents in ENGINE_AGENTS.items()
            }
        else:
            shared = await stack.enter_async_context(Telephony.create(agents=_secrets(ALL_AGENTS)))
            telephonies = dict.fromkeys(ENGINE_AGENTS, shared)
        shared_link, a_link = await db_host.link(), await db_host.link()
        postgres = await stack.enter_async_context(PostgresSandbox(host=db_host))
        await postgres.create_database(campaign)
        dsn = postgres.dsn(campaign, link=shared_link)
        async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
            admin, tokens, campaign_id = await records(storage, numbers, campaign)
        campaign_file = tmp_path / f"{campaign}.toml"
        campaign_file.write_text(
            as_toml(
                {
                    "name": campaign,
                    "dial_mode": "progressive",
                    "compliance": "plain",
                    "max_lines": max_lines,
                    "agents": [login for login, _ in ALL_AGENTS],
                }
                | (campaign_settings or {})
            )
        )
        ports, b_ari_proxy = {}, None
        a_app = telephonies["engine-a"].engine.ari_app  # its PBX's dialplan names it
        for name, engine_dsn, app in (
            ("engine-a", postgres.dsn(campaign, link=a_link), a_app),
            ("engine-b", dsn, "engine-b"),
        ):
            pbx = telephonies[name].engine
            ports[name] = free_port()
            settings = _settings(pbx, engine_dsn, name, app, ports[name], ring_timeout)
            settings["campaign_files"] = [str(campaign_file)]
            settings |= engine_settings or {}
            if name == "engine-b" and b_ari_proxied:
                b_ari_proxy = await stack.enter_async_context(TcpProxy("127.0.0.1", pbx.http_port))
                settings["ari"]["url"] = b_ari_proxy.url
            if cluster:
                settings["ari"]["node"] = "m1"
                settings["ari"]["nodes"] = [{"name": "m2", "url": nodes["m2"].engine.ari_url}]
            (tmp_path / f"{name}.toml").write_text(as_toml(settings))
        for name, agents in ENGINE_AGENTS.items():
            pbx = telephonies[name].engine
            registrar = (proxy.host, proxy.port) if proxy else (pbx.sip_host, pbx.sip_port)
            for endpoint, secret in _secrets(agents).items():
                phone = SippPhone(endpoint, secret, *registrar)
                await phone.start()
                stack.push_async_callback(phone.stop)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        watches = {}
        for name, telephony in telephonies.items():
            same = next((w for n, w in watches.items() if telephonies[n] is telephony), None)
            watches[name] = same or await stack.enter_async_context(CallWatch(telephony.engine))
        watched = {
            name: (t, watches["engine-a"] if t is telephonies["engine-a"] else None)
            for name, t in nodes.items()
        }
        for name, (telephony, watch) in watched.items():
            watch = watch or await stack.enter_async_context(CallWatch(telephony.engine))
            watched[name] = (telephony, watch)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        logs = {name: tmp_path / f"{name}.log" for name in ENGINE_AGENTS}
        processes = {
            name: await stack.enter_async_context(
                engine_process(tmp_path / f"{name}.toml", logs[name])
            )
            for name in ENGINE_AGENTS
        }
        apis = {name: Api(http, f"http://127.0.0.1:{port}") for name, port in ports.items()}
        for name, agents in ENGINE_AGENTS.items():
            await eventually(lambda api=apis[name]: api.up(admin), timeout=30, what=name)
            for login, _ in agents if agents_of_a or name != "engine-a" else ():
                status, body = await apis[name].post("/agents/me/login", tokens[login])
                assert status == 200, body
        for name in apis:
            status, body = await apis[name].post(f"/campaigns/{campaign}/start", admin)
            assert status == 200, body
            if name == "engine-a":
                await eventually(
                    lambda: holds(pool, campaign_id, "engine-a"),
                    timeout=10,
                    what="engine-a holding the campaign",
                )
        yield TwoEngines(
            telephonies,
            pool,
            a_link,
            campaign_id,
            apis,
            admin,
            processes,
            watches,
            logs,
            watched,
            b_ari_proxy,
        )


async def _cluster(stack: AsyncExitStack):
    """Media nodes m1 and m2 (one ARI user on both, as [[ari.nodes]] shares [ari]'s), with
    every agent's account, and Kamailio in front of them."""
    nodes = {name: Telephony.create(agents=_secrets(ALL_AGENTS)) for name in ("m1", "m2")}
    first = nodes["m1"].engine
    nodes["m2"].engine.ari_username = first.ari_username
    nodes["m2"].engine.ari_password = first.ari_password
    for telephony in nodes.values():
        await stack.enter_async_context(telephony)
    proxy = await stack.enter_async_context(
        KamailioSandbox([(t.engine.sip_host, t.engine.sip_port) for t in nodes.values()])
    )
    return proxy, nodes


async def records(
    storage: Storage, numbers: list[str], campaign: str, agents=ALL_AGENTS
) -> tuple[str, dict[str, str], int]:
    """The database's rows for a floor: an admin, the agents (login, softphone) with a token
    each, and a progressive campaign with one case per number. The admin's token, the agents'
    tokens and the campaign's id."""
    await migrate(storage.pool)
    await storage.agents.upsert_agent("ops", "Ops", role="admin")
    admin = await storage.issue_agent_token("ops")
    tokens = {}
    for login, endpoint in agents:
        await storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint)
        tokens[login] = await storage.issue_agent_token(login)
    campaign_id = await storage.campaigns.upsert_campaign(campaign, "progressive")
    for index, number in enumerate(numbers):
        await storage.cases.upsert_case(
            creditor="Acme",
            reference=f"C-{index}",
            debtor_name=f"Debtor {index}",
            amount_owed=Decimal("10.00"),
            currency="USD",
            numbers=[(number, "mobile")],
            campaign_id=campaign_id,
        )
    return admin, tokens, campaign_id


def _settings(pbx, dsn: str, name: str, app: str, port: int, ring_timeout: float) -> dict:
    return {
        "ari": {
            "url": pbx.ari_url,
            "username": pbx.ari_username,
            "password": pbx.ari_password,
            "app": app,
        },
        # A short command timeout: queries on a cut link give up instead of hanging.
        "database": {"dsn": dsn, "allow_superuser": True, "command_timeout": 5},
        "dialer": {"ring_timeout": ring_timeout, "caller_id": "+12025550999", "engine_name": name},
        "http": {"port": port},
        "shutdown_grace": 5,
    }
