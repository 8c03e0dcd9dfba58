"""One engine (`pbx-engine run`) driving two Asterisk media nodes, each with its own phone
network, one agent's softphone registered on each. A progressive campaign's calls go to the
node of the agent held for them, and a person who answers is put through there; then one node
is SIGKILLed mid-campaign: its agent is logged out at once (he cannot be reached), the other
node carries on alone, and the calls that died with it are settled once it has gone unheard
for `[dialer] node_lost_calls_after`, before it is back. No case is dialled twice and the
invariant checker passes on each node. With the nodes' SIP addresses set, a caller on one
node is put through to an agent on the other over a node link. `-s` prints the times."""

from __future__ import annotations

import array
import asyncio
import math
import signal
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.invariants import CallWatch, check, take_snapshot
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.audio import tone_levels_so_far
from pbx_engine.lab.sandbox.kamailio import KamailioSandbox
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.storage import Storage
from tests.integration.engines import Api, as_toml, engine_process, records
from tests.waiting import eventually

# Each agent's softphone registers on one node: his leg and bridge live there.
AGENTS = {"anna": ("agent-001", "m1"), "olga": ("agent-002", "m2")}
SECRETS = {endpoint: f"{endpoint}-secret" for endpoint, _ in AGENTS.values()}
DOWN_FOR = 12.0


def numbers() -> list[str]:
    busy = [PstnBehaviour.BUSY.number(f"+1202555{600 + i:03d}") for i in range(6)]
    people = [PstnBehaviour.HUMAN.number(f"+1202555{620 + i:03d}") for i in range(2)]
    ringing = [PstnBehaviour.NO_ANSWER.number(f"+1202555{640 + i:03d}") for i in range(12)]
    return busy + people + ringing


async def agent_states(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch(
        "SELECT DISTINCT ON (a.login) a.login, s.state FROM agent_state_changes s "
        "JOIN agents a ON a.id = s.agent_id ORDER BY a.login, s.id DESC"
    )
    return {r["login"]: r["state"] for r in rows}


@dataclass
class MediaFloor:
    nodes: dict[str, Telephony]
    pool: asyncpg.Pool
    api: Api
    admin: str
    tokens: dict[str, str]
    agent_ids: dict[str, int]
    watches: dict[str, CallWatch]
    agent_nodes: dict[str, str]  # each agent's node, where his softphone is registered
    phones: dict[str, SippPhone]
    proxy: KamailioSandbox | None
    stack: AsyncExitStack
    engine: asyncio.subprocess.Process  # `pbx-engine run`
    engine_config: Path

    def login_of(self, agent_id: int) -> str:
        return next(login for login, known in self.agent_ids.items() if known == agent_id)

    async def end_call(self, login: str) -> None:
        status, body = await self.api.post("/agents/me/call/end", self.tokens[login])
        assert status == 200, body

    async def put_through(self, count: int, handled: set[str]) -> list[asyncpg.Record]:
        """Waits until `count` calls have been put through, each agent ending his calls as
        they come (those not in `handled`, which gets them); the calls put through."""

        async def probe():
            rows = [r for r in await _attempts(self.pool) if r["bridged_at"]]
            fresh = [r for r in rows if r["channel_id"] not in handled and not r["ended_at"]]
            await self.end_calls_as_bridged(fresh)
            handled.update(r["channel_id"] for r in fresh)
            return rows if len(rows) >= count else None

        return await eventually(probe, timeout=90, what=f"{count} people put through")

    async def end_calls_as_bridged(self, rows: list[asyncpg.Record]) -> None:
        """Each call put through was on its agent's node; its agent ends it."""
        for row in rows:
            login = self.login_of(row["agent_id"])
            assert row["node"] == self.agent_nodes[login], (login, dict(row))
            status, body = await self.api.post("/agents/me/call/end", self.tokens[login])
            assert status == 200, body


@asynccontextmanager
async def media_floor(
    tmp_path, numbers: list[str], campaign: dict, *, kamailio: bool = False, links: bool = False
) -> AsyncIterator[MediaFloor]:
    """The engine on nodes m1 and m2, both agents logged in, the campaign started. Each
    agent's softphone registers on his node of AGENTS, or with `kamailio` through Kamailio in
    front of both nodes (which picks the node). With `links`, each node's SIP address is in
    the settings: a call on one node may be put through to an agent on the other."""
    async with AsyncExitStack() as stack:
        # One ARI user on every node, as [[ari.nodes]] shares [ari]'s.
        nodes = {name: Telephony.create(agents=SECRETS) for name in ("m1", "m2")}
        first = nodes["m1"].engine
        nodes["m2"].engine.ari_username = first.ari_username
        nodes["m2"].engine.ari_password = first.ari_password
        for telephony in nodes.values():
            await stack.enter_async_context(telephony)
        postgres = await stack.enter_async_context(PostgresSandbox())
        await postgres.create_database("nodes")
        dsn = postgres.dsn("nodes")
        agents = [(login, endpoint) for login, (endpoint, _) in AGENTS.items()]
        async with Storage.open(DatabaseConfig(dsn=dsn)) as storage:
            admin, tokens, _ = await records(storage, numbers, "nodes", agents)
            ids = {login: (await storage.agents.get_agent(login)).id for login in AGENTS}
        campaign_file = tmp_path / "nodes.toml"
        campaign_file.write_text(
            as_toml({"name": "nodes", "compliance": "plain", "agents": list(AGENTS), **campaign})
        )
        port = free_port()
        settings = _settings(nodes, dsn, port, campaign_file, links=links)
        (tmp_path / "engine.toml").write_text(as_toml(settings))
        proxy = None
        if kamailio:
            proxy = await stack.enter_async_context(
                KamailioSandbox([(t.engine.sip_host, t.engine.sip_port) for t in nodes.values()])
            )
        phones = {}
        for login, (endpoint, node) in AGENTS.items():
            pbx = nodes[node].engine
            registrar = (proxy.host, proxy.port) if proxy else (pbx.sip_host, pbx.sip_port)
            phones[login] = SippPhone(endpoint, SECRETS[endpoint], *registrar)
            await phones[login].start()
            stack.push_async_callback(lambda login=login: phones[login].stop())
        http = await stack.enter_async_context(aiohttp.ClientSession())
        agent_nodes = {login: await registered_on(http, nodes, login) for login in AGENTS}
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        stack.push_async_callback(pool.close)
        watches = {
            name: await stack.enter_async_context(CallWatch(t.engine)) for name, t in nodes.items()
        }
        log_file = tmp_path / "engine.log"
        engine = await stack.enter_async_context(engine_process(tmp_path / "engine.toml", log_file))
        api = Api(http, f"http://127.0.0.1:{port}")
        await eventually(lambda: api.up(admin), timeout=30, what="the engine")
        for login in AGENTS:
            status, body = await api.post("/agents/me/login", tokens[login])
            assert status == 200, body
        status, body = await api.post("/campaigns/nodes/start", admin)
        assert status == 200, body
        yield MediaFloor(
            nodes, pool, api, admin, tokens, ids, watches, agent_nodes, phones, proxy,
            stack, engine, tmp_path / "engine.toml",
        )  # fmt: skip


async def registered_on(http: aiohttp.ClientSession, nodes: dict[str, Telephony], login: str):
    """The node the agent's softphone is registered on, asked of each node's ARI (of those
    up)."""
    endpoint = AGENTS[login][0]

    async def found() -> str | None:
        online = []
        for name, telephony in nodes.items():
            pbx = telephony.engine
            url = f"{pbx.ari_url}/ari/endpoints/PJSIP/{endpoint}"
            try:
                async with http.get(url, headers=pbx.ari_headers) as response:
                    if response.status == 200 and (await response.json())["state"] == "online":
                        online.append(name)
            except aiohttp.ClientError:
                continue  # a node down has no phone on it
        return online[0] if len(online) == 1 else None

    return await eventually(found, timeout=10, what=f"{login}'s registration")


async def test_predictive_calls_are_dialled_from_the_node_of_the_agents_free_for_them(tmp_path):
    people = [PstnBehaviour.HUMAN.number(f"+1202555{660 + i:03d}") for i in range(4)]
    campaign = {
        "dial_mode": "predictive",
        "max_lines": 2,
        "pacing": {"policy": "ratio", "dial_ratio": 1.0},
    }
    async with media_floor(tmp_path, people, campaign) as floor:
        await floor.put_through(len(people), set())
        status, body = await floor.api.post("/campaigns/nodes/stop", floor.admin)
        assert status == 200, body
        rows = await _quiet(floor.pool, floor.watches)
        assert [r["outcome"] for r in rows] == ["human"] * len(people), [dict(r) for r in rows]
        assert {r["node"] for r in rows} == {"m1", "m2"}
        await _invariants(floor, rows)


async def test_one_engine_drives_two_nodes_and_carries_on_when_one_dies(tmp_path):
    campaign = {"dial_mode": "progressive", "max_lines": 2}
    async with media_floor(tmp_path, numbers(), campaign) as floor:
        pool, api, nodes = floor.pool, floor.api, floor.nodes

        # A person who answers is put through to the agent on the node that dialled him.
        async def bridged():
            rows = [r for r in await _attempts(pool) if r["bridged_at"]]
            return rows if len(rows) == 2 else None

        rows = await eventually(bridged, timeout=60, what="both people put through")
        await floor.end_calls_as_bridged(rows)

        async def ringing_on_both():
            ringing = PstnBehaviour.NO_ANSWER.value  # rings on for ring_timeout (8 s)
            rows = [
                r
                for r in await _attempts(pool)
                if not r["ended_at"] and r["dialled"].endswith(ringing)
            ]
            return rows if {r["node"] for r in rows} == {"m1", "m2"} else None

        await eventually(ringing_on_both, timeout=40, what="calls ringing on both nodes")
        killed_at_db = await pool.fetchval("SELECT now()")
        killed_at = time.monotonic()
        outage = asyncio.create_task(nodes["m2"].engine.restart(crash=True, down_for=DOWN_FOR))
        try:
            # Olga's phone is on the dead node: she is logged out, not left ready.
            await eventually(lambda: _logged_out(pool, "olga"), timeout=20, what="olga logged out")
            olga_out = time.monotonic() - killed_at
            # The campaign goes on on m1 alone.
            await eventually(
                lambda: _placed_since(pool, killed_at_db), timeout=30, what="a call after"
            )

            async def m2_settled():
                rows = [r for r in await _attempts(pool) if r["node"] == "m2"]
                return rows if all(r["ended_at"] for r in rows) else None

            # m2 unheard for [dialer] node_lost_calls_after: its calls are settled as lost,
            # and their cases may be dialled again.
            rows = await eventually(m2_settled, timeout=DOWN_FOR, what="m2's calls settled")
            assert not outage.done(), "settled only once m2 was back"
            lost = [r for r in rows if r["ended_at"] > killed_at_db]
            settled_after = max(r["ended_at"] - killed_at_db for r in lost).total_seconds()
        finally:
            await outage
        status, body = await api.post("/campaigns/nodes/stop", floor.admin)
        assert status == 200, body

        rows = await _quiet(pool, floor.watches)
        after = [r for r in rows if r["created_at"] > killed_at_db]
        assert after and {r["node"] for r in after} == {"m1"}, [dict(r) for r in after]
        assert (await agent_states(pool))["olga"] == "logged_out"
        await _invariants(floor, rows)
        print(
            f"\n{len(rows)} calls, {sum(r['node'] == 'm1' for r in rows)} on m1 and "
            f"{sum(r['node'] == 'm2' for r in rows)} on m2, none twice; m2 killed: olga logged "
            f"out {olga_out:.1f} s after, m1 dialled on alone; its {len(lost)} call(s) up were "
            f"settled {settled_after:.1f} s after the kill, m2 still down"
        )


# The caller is a tone phone of m1's network (it sends 1300 Hz and records what it hears); the
# supervisor one of m2's (dialplans/pstn.conf).
CALLER, SUPERVISOR = "+12025571300", "+12025571800"
# A room callers reach by its number, and two callers to it: one on each node's network.
ROOM, ROOM_DID, ROOM_FIRST, ROOM_SECOND = "across", "+12025551900", "+12025571400", "+12025571500"


async def test_callers_on_one_node_reach_an_agent_and_a_room_on_the_other_over_node_links(
    tmp_path,
):
    """Anna (m1) is away; olga (m2) is ready. A debtor calls the centre and reaches m1: he is
    put through to olga over a node link (a SIP call from m1 to m2 into her bridge). Audio
    crosses both ways: a supervisor listening to olga on m2 hears the caller's tone, the caller
    hears olga's voice. The engine is SIGKILLed and started again: it follows the link again,
    olga adopted on the caller's call. Anna, back, joins the call as a third party from m1 and
    leaves it; everything ends when olga ends the call. Then a room whose bridge is on m2 takes
    a caller who reached m1, the same way."""
    async with media_floor(tmp_path, [], {"dial_mode": "progressive"}, links=True) as floor:
        status, body = await floor.api.post("/agents/me/logout", floor.tokens["anna"])
        assert status == 200, body
        m1, m2 = floor.nodes["m1"], floor.nodes["m2"]
        await m1.pstn.originate(
            "PJSIP/+12025550100@engine",  # the centre's number, on m1
            context="from-engine",
            extension=CALLER,  # the tone phone's part: it answers as that number does
            caller_id=f'"{CALLER}" <{CALLER}>',
        )
        [row] = await eventually(_bridged(floor.pool, 1), timeout=30, what="put through")
        assert (row["node"], floor.login_of(row["agent_id"])) == ("m1", "olga"), dict(row)
        # What he heard before (m1's queue) is left out; his phone may not have started its
        # recording yet (it does a second after it answers).
        before = _newest(m1.pstn.recordings_dir, CALLER)
        bridged_at_byte = before.stat().st_size if before else 0
        http = floor.api.http
        supervise = {"agent": "olga", "number": SUPERVISOR}
        admin = {"Authorization": f"Bearer {floor.admin}"}
        async with http.post(f"{floor.api.base}/supervision", json=supervise, headers=admin) as r:
            assert r.status == 201, await r.text()

        async def supervisor_hears_the_caller():
            path = _newest(m2.pstn.recordings_dir, SUPERVISOR)
            levels = tone_levels_so_far(path, 1300)[-10:] if path else []
            return len(levels) == 10 and all(level > 800 for level in levels)

        await eventually(supervisor_hears_the_caller, timeout=15, what="m1's caller on m2")

        async def caller_hears_olga():
            # Olga's phone talks (speech, not a tone): a second of loud windows will do.
            heard = _newest(m1.pstn.recordings_dir, CALLER)
            loud = _loud_windows(heard, bridged_at_byte) if heard else 0
            return loud if loud >= 10 else None

        await eventually(caller_hears_olga, timeout=10, what="olga's voice at m1's caller")
        async with http.delete(f"{floor.api.base}/supervision", headers=admin) as r:
            assert r.status == 200, await r.text()
        await _engine_restarted_mid_link(floor, row["channel_id"])
        await _colleague_from_the_other_node(floor)
        await floor.end_call("olga")

        async def links_gone():
            engines = (m1.engine, m2.engine)
            return [await _channel(http, pbx, _is_link) for pbx in engines] == [None, None]

        await eventually(links_gone, timeout=10, what="both legs of the link hung up")
        [row] = await eventually(lambda: _ended(floor.pool), timeout=10, what="the call ended")
        assert row["outcome"] == "human"
        await _room_across_nodes(floor)
        await eventually(links_gone, timeout=10, what="the room's link hung up")
        await _link_refused_by_the_far_node(floor)
        await eventually(links_gone, timeout=10, what="no link left")
        rows = await eventually(lambda: _ended(floor.pool), timeout=10, what="every call ended")
        await _invariants(floor, rows)


async def _engine_restarted_mid_link(floor: MediaFloor, caller: str) -> None:
    """The engine is SIGKILLed with the caller linked to olga and started again: it finds the
    link on both nodes and follows it, and olga, adopted on her call, is on the caller's call
    (not on the link's in leg in her bridge), so what follows works as before the crash."""
    floor.engine.send_signal(signal.SIGKILL)
    await floor.engine.wait()
    await floor.stack.enter_async_context(
        engine_process(floor.engine_config, floor.engine_config.with_name("engine-2.log"))
    )
    await eventually(lambda: floor.api.up(floor.admin), timeout=30, what="the engine again")

    async def olga_adopted():
        return await floor.pool.fetchrow(
            "SELECT s.state, s.channel_id FROM agent_state_changes s JOIN agents a "
            "ON a.id = s.agent_id WHERE a.login = 'olga' AND s.reason = 'adopted after a restart'"
        )

    adopted = await eventually(olga_adopted, timeout=10, what="olga adopted")
    assert (adopted["state"], adopted["channel_id"]) == ("on_call", caller)


async def _colleague_from_the_other_node(floor: MediaFloor) -> None:
    """Anna, back on m1, joins olga's call on m2 as a third party over a link of her own, and
    goes back to her bridge on m1 when olga lets her go."""
    http, base = floor.api.http, floor.api.base
    status, body = await floor.api.post("/agents/me/login", floor.tokens["anna"])
    assert status == 200, body
    await eventually(lambda: _state_is(floor.pool, "anna", "ready"), what="anna ready")
    olga = {"Authorization": f"Bearer {floor.tokens['olga']}"}
    m2 = floor.nodes["m2"].engine

    async def links_on_m2() -> int:
        async with http.get(f"{m2.ari_url}/ari/channels", headers=m2.ari_headers) as response:
            return sum(_is_link(c) for c in await response.json())

    body = {"agent": "anna"}
    async with http.post(f"{base}/agents/me/call/parties", json=body, headers=olga) as r:
        assert r.status == 201, await r.text()
        party = await r.json()
    await eventually(lambda: _state_is(floor.pool, "anna", "on_call"), what="anna on the call")
    assert await links_on_m2() == 2  # the caller's link, and anna's
    async with http.delete(f"{base}/agents/me/call/parties/{party['id']}", headers=olga) as r:
        assert r.status == 200, await r.text()
    await eventually(lambda: _state_is(floor.pool, "anna", "wrap_up", "ready"), what="anna back")

    async def one_link_left():
        return await links_on_m2() == 1

    await eventually(one_link_left, timeout=10, what="anna's link hung up")


async def _state_is(pool: asyncpg.Pool, login: str, *states: str) -> bool:
    return (await agent_states(pool)).get(login) in states


async def _room_across_nodes(floor: MediaFloor) -> None:
    """A caller reaches the room on m2 first (its bridge is made there); the next reaches it
    on m1 and joins over a link: each hears the other's tone."""
    m1, m2 = floor.nodes["m1"], floor.nodes["m2"]
    http, admin = floor.api.http, {"Authorization": f"Bearer {floor.admin}"}

    async def members() -> int:
        async with http.get(f"{floor.api.base}/rooms/{ROOM}", headers=admin) as response:
            return len((await response.json())["members"])

    callers = {}
    for telephony, number, count in ((m2, ROOM_FIRST, 1), (m1, ROOM_SECOND, 2)):
        callers[number] = await telephony.pstn.originate(
            f"PJSIP/{ROOM_DID}@engine",
            context="from-engine",
            extension=number,
            caller_id=f'"{number}" <{number}>',
        )
        await eventually(lambda count=count: _room_has(members, count), what=f"{count} in it")

    async def each_hears_the_other():
        heard = []
        for telephony, number, other in ((m2, ROOM_FIRST, 1500), (m1, ROOM_SECOND, 1400)):
            path = _newest(telephony.pstn.recordings_dir, number)
            levels = tone_levels_so_far(path, other)[-10:] if path else []
            heard.append(len(levels) == 10 and all(level > 800 for level in levels))
        return all(heard)

    await eventually(each_hears_the_other, timeout=15, what="the room heard across the nodes")
    for telephony, number in ((m2, ROOM_FIRST), (m1, ROOM_SECOND)):
        await telephony.pstn.hangup(callers[number])
    await eventually(lambda: _room_has(members, 0), what="the room empty")


async def _link_refused_by_the_far_node(floor: MediaFloor) -> None:
    """m2 loses its link endpoint (as a node whose configuration was replaced would): a caller
    on m1 routed to olga (m2) is refused there, and routed again rather than lost; with m2 out
    of reach from m1 for a while he waits for anna, who logs in on m1 and takes him."""
    m1, m2 = floor.nodes["m1"], floor.nodes["m2"].engine
    http = floor.api.http
    status, body = await floor.api.post("/agents/me/logout", floor.tokens["anna"])
    assert status == 200, body
    endpoint = f"{m2.ari_url}/ari/asterisk/config/dynamic/res_pjsip/endpoint/node-link"
    async with http.delete(endpoint, headers=m2.ari_headers) as response:
        assert response.status == 204, await response.text()
    calls_before = {r["channel_id"] for r in await _attempts(floor.pool)}
    olga_since = await floor.pool.fetchval("SELECT max(id) FROM agent_state_changes")
    await m1.pstn.originate(
        "PJSIP/+12025550100@engine",
        context="from-engine",
        extension=CALLER,
        caller_id=f'"{CALLER}" <{CALLER}>',
    )

    async def caller_waiting():
        rows = [r for r in await _attempts(floor.pool) if r["channel_id"] not in calls_before]
        return rows[0] if rows else None

    caller = await eventually(caller_waiting, timeout=15, what="the caller on m1")

    async def olga_tried_and_given_back():
        states = await floor.pool.fetch(
            "SELECT s.state FROM agent_state_changes s JOIN agents a ON a.id = s.agent_id "
            "WHERE a.login = 'olga' AND s.id > $1 ORDER BY s.id",
            olga_since,
        )
        return [r["state"] for r in states] == ["reserved", "ready"]

    await eventually(olga_tried_and_given_back, timeout=15, what="olga tried, not reached")
    status, body = await floor.api.post("/agents/me/login", floor.tokens["anna"])
    assert status == 200, body

    async def with_anna():
        row = next(
            r for r in await _attempts(floor.pool) if r["channel_id"] == caller["channel_id"]
        )
        return row if row["bridged_at"] else None

    row = await eventually(with_anna, timeout=20, what="the caller put through to anna")
    assert (row["node"], floor.login_of(row["agent_id"])) == ("m1", "anna"), dict(row)
    await floor.end_call("anna")


async def _room_has(members, count: int) -> bool:
    return await members() == count


def _newest(folder: Path, number: str) -> Path | None:
    files = list(folder.glob(f"heard-{number}-*.wav"))
    return max(files, key=lambda path: path.stat().st_mtime) if files else None


def _loud_windows(recording: Path, from_byte: int) -> int:
    """100 ms windows of a recording still being written, from `from_byte` on, whose level
    is that of speech (RMS over 300 of 32768)."""
    data = recording.read_bytes()[max(from_byte, 44) :]
    samples = array.array("h", data[: len(data) // 2 * 2])
    windows = [samples[i : i + 800] for i in range(0, len(samples) - 799, 800)]
    return sum(1 for w in windows if math.sqrt(sum(x * x for x in w) / len(w)) > 300)


def _is_link(channel: dict) -> bool:
    return channel["id"].startswith("link-") or channel["name"].startswith("PJSIP/node-link-")


async def _channel(http: aiohttp.ClientSession, pbx, matches) -> str | None:
    """The id of the first channel on `pbx` that `matches` (asked of its ARI), or None."""
    async with http.get(f"{pbx.ari_url}/ari/channels", headers=pbx.ari_headers) as response:
        channels = await response.json()
    return next((c["id"] for c in channels if matches(c)), None)


async def _ended(pool: asyncpg.Pool) -> list[asyncpg.Record] | None:
    rows = await _attempts(pool)
    return rows if rows and all(r["ended_at"] for r in rows) else None


def _settings(
    nodes: dict[str, Telephony], dsn: str, port: int, campaign_file, *, links: bool = False
) -> dict:
    m1, m2 = nodes["m1"].engine, nodes["m2"].engine
    m2_node = {"name": "m2", "url": m2.ari_url}
    sip, rooms = {}, {}
    if links:
        sip = {"sip_address": f"{m1.sip_host}:{m1.sip_port}"}
        m2_node["sip_address"] = f"{m2.sip_host}:{m2.sip_port}"
        rooms = {"rooms": [{"name": ROOM, "did": ROOM_DID, "tones": False}]}
    return {
        **rooms,
        "campaign_files": [str(campaign_file)],
        "ari": {
            "url": m1.ari_url,
            "node": "m1",
            "username": m1.ari_username,
            "password": m1.ari_password,
            "app": m1.ari_app,
            # A node killed outright is found silent within this.
            "heartbeat": 1.0,
            "dead_after": 3.0,
            "reconnect_max": 2.0,
            "nodes": [m2_node],
            **sip,
        },
        "database": {"dsn": dsn, "allow_superuser": True},
        # A node unheard this long has its calls settled as lost (300 s by default).
        "dialer": {"ring_timeout": 8, "caller_id": "+12025550999", "node_lost_calls_after": 3},
        "agents": {"wrap_up_seconds": 0},
        "http": {"port": port},
        "shutdown_grace": 5,
    }


async def _invariants(floor: MediaFloor, rows: list[asyncpg.Record]) -> None:
    """Every call each node saw is on record as that node's, and the invariant checker finds
    nothing on either node."""
    for name, telephony in floor.nodes.items():
        seen = floor.watches[name].first_seen
        assert {r["channel_id"] for r in rows if r["node"] == name} >= set(seen)
        snapshot = await take_snapshot(floor.pool, telephony.engine, telephony.pstn, placed=seen)
        assert [str(v) for v in check(snapshot)] == []


async def _attempts(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT channel_id, case_id, dialled, node, agent_id, created_at, bridged_at, ended_at, "
        "outcome "
        "FROM call_attempts ORDER BY id"
    )


async def _logged_out(pool: asyncpg.Pool, login: str) -> bool:
    return (await agent_states(pool)).get(login) == "logged_out"


async def _placed_since(pool: asyncpg.Pool, since) -> bool:
    return bool(
        await pool.fetchval("SELECT count(*) FROM call_attempts WHERE created_at > $1", since)
    )


async def _quiet(pool: asyncpg.Pool, watches: dict[str, CallWatch]) -> list[asyncpg.Record]:
    async def quiet():
        rows = await _attempts(pool)
        ended = all(r["ended_at"] for r in rows)
        return rows if ended and not any(w.up for w in watches.values()) else None

    rows = await eventually(quiet, timeout=40, what="every call ended")
    cases = [r["case_id"] for r in rows]
    assert len(cases) == len(set(cases)), "a case dialled twice"
    return rows


async def test_agents_register_through_kamailio_and_move_to_a_node_that_answers(tmp_path):
    """Both softphones register through Kamailio, which puts each on a node of its own (a hash
    of the agent's name); the engine rings each agent's leg on his node and puts his debtors
    through there. Olga's node dies while she is talking: she is logged out, her phone
    registers again, Kamailio puts it on the node left, she logs in again and takes her next
    debtor there."""
    people = [PstnBehaviour.HUMAN.number(f"+1202555{680 + i:03d}") for i in range(4)]
    campaign = {"dial_mode": "progressive", "max_lines": 2}
    async with media_floor(tmp_path, people, campaign, kamailio=True) as floor:
        assert floor.proxy is not None
        assert sorted(floor.agent_nodes.values()) == ["m1", "m2"], floor.agent_nodes
        rows = await eventually(_bridged(floor.pool, 2), timeout=60, what="two put through")
        assert {r["node"] for r in rows} == {"m1", "m2"}
        for row in rows:
            assert row["node"] == floor.agent_nodes[floor.login_of(row["agent_id"])]
        handled = {r["channel_id"] for r in rows}  # olga's goes on until her node dies
        await floor.end_call("anna")

        registered = dict(floor.agent_nodes)
        dead = floor.agent_nodes["olga"]
        alive = next(name for name in floor.nodes if name != dead)
        killed_at = time.monotonic()
        outage = asyncio.create_task(floor.nodes[dead].engine.restart(crash=True, down_for=20))
        try:
            await eventually(lambda: _logged_out(floor.pool, "olga"), timeout=20, what="olga out")
            await floor.phones["olga"].stop()
            endpoint = AGENTS["olga"][0]
            floor.phones["olga"] = SippPhone(
                endpoint, SECRETS[endpoint], floor.proxy.host, floor.proxy.port
            )
            await floor.phones["olga"].start()
            async with aiohttp.ClientSession() as http:
                moved = await registered_on(http, floor.nodes, "olga")
            moved_after = time.monotonic() - killed_at
            assert moved == alive
            floor.agent_nodes["olga"] = alive
            status, body = await floor.api.post("/agents/me/login", floor.tokens["olga"])
            assert status == 200, body
            rows = await floor.put_through(4, handled)
            assert [r["node"] for r in rows[2:]] == [alive, alive]
        finally:
            await outage
        status, body = await floor.api.post("/campaigns/nodes/stop", floor.admin)
        assert status == 200, body
        rows = await _quiet(floor.pool, floor.watches)
        assert len(rows) == len(people)
        await _invariants(floor, rows)
        print(
            f"\nagents registered through Kamailio on {registered}; olga's node killed "
            f"mid-call, her phone registered again on {alive} {moved_after:.1f} s after"
        )


def _bridged(pool: asyncpg.Pool, count: int):
    async def probe():
        rows = [r for r in await _attempts(pool) if r["bridged_at"]]
        return rows if len(rows) >= count else None

    return probe
