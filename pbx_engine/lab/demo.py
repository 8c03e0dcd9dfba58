"""`pbx-engine demo`: a real campaign on this machine, from empty to a summary.

Starts a private PostgreSQL, the engine's Asterisk, the PSTN Asterisk, one SIPp softphone per
agent and an SMS gateway (Kannel, its fake SMSC as the network); imports sample debtors whose
numbers make the PSTN answer with a realistic mix (people, voicemail, busy lines, no answer,
rejections, dead numbers); sends each the campaign strategy's day-0 SMS; logs the agents in;
runs a campaign until nothing is left to dial. Simulated agents talk for a few seconds and record
dispositions through the same calls the HTTP API makes. Ends with a summary table, or one JSON
object with `--json`.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pbx_engine.agents.states import AgentState
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.cases.dispositions import Disposition, DispositionInput, next_action
from pbx_engine.cases.importer import CaseRow, PhoneEntry
from pbx_engine.config import parse_config
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.invariants import agent_views, violations_when_quiet
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.kannel import USERNAME as KANNEL_USERNAME
from pbx_engine.lab.sandbox.kannel import KannelSandbox
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.strategies.runner import RunningCampaign

# The campaign's contact strategy: a text before the first call, as collections centres do it.
DAY_0_TEMPLATES = """\
[reminder.en]
sms = "{{ debtor_name }}, {{ amount_owed | money }} to {{ creditor }} is due. Pay: {{ pay_link }}"
"""
DAY_0_STRATEGY = """\
name = "text first"

[[step]]
name = "day-0 SMS"
days_past_due = [0]
action = "sms"
template = "reminder"
"""

# What the sample debtors' phones do, with weights: a collections list as it dials in practice.
MIX = [
    (PstnBehaviour.TALK, 26),
    (PstnBehaviour.HUMAN_LONG_HELLO, 4),
    (PstnBehaviour.MACHINE, 14),
    (PstnBehaviour.MACHINE_NO_BEEP, 6),
    (PstnBehaviour.BUSY, 10),
    (PstnBehaviour.NO_ANSWER, 30),
    (PstnBehaviour.REJECT, 5),
    (PstnBehaviour.UNALLOCATED, 5),
]


def sample_cases(count: int, rng: random.Random, mix=MIX) -> list[CaseRow]:
    behaviours, weights = zip(*mix, strict=True)
    rows = []
    for i in range(count):
        behaviour = rng.choices(behaviours, weights)[0]
        number = behaviour.number(f"+1312{5550000 + i:07d}"[:-1])
        rows.append(
            CaseRow(
                line=i + 2,
                creditor="Demo Bank",
                reference=f"D-{i:05d}",
                debtor_name=f"Debtor {i}",
                amount_owed=Decimal(rng.randrange(5000, 500000)) / 100,
                currency="USD",
                phones=(PhoneEntry(number, "mobile"),),
                due_date=date(2026, 1, 1) + timedelta(days=rng.randrange(300)),
                timezone="America/Chicago",
            )
        )
    return rows


async def simulated_agents(engine: Engine, rng: random.Random, talk: tuple[float, float]) -> None:
    """Agents who talk a few seconds with each debtor, record an outcome and hang up."""
    busy: set[str] = set()

    async def work(login: str, channel_id: str) -> None:
        try:
            await asyncio.sleep(rng.uniform(*talk))
            code = rng.choices(
                [
                    Disposition.PROMISE_TO_PAY,
                    Disposition.CALLBACK,
                    Disposition.REFUSED,
                    Disposition.RIGHT_PARTY,
                    Disposition.WRONG_PARTY,
                ],
                [35, 15, 20, 25, 5],
            )[0]
            now = datetime.now(UTC)
            given = DispositionInput(
                code,
                promise_amount=Decimal(rng.randrange(20, 300))
                if code == "promise_to_pay"
                else None,
                promise_date=(now + timedelta(days=7)).date() if code == "promise_to_pay" else None,
                callback_at=now + timedelta(days=2) if code == "callback" else None,
            )
            update = next_action(given, now, UTC)  # type: ignore[arg-type]
            await engine.storage.cases.record_disposition(
                channel_id, engine.agents.agent_id(login), given, update
            )
            await engine.ari.hangup(channel_id)
        finally:
            busy.discard(login)

    async with asyncio.TaskGroup() as tasks:
        while True:
            for agent in engine.agents.all():
                if agent.state is AgentState.ON_CALL and agent.call_id and agent.login not in busy:
                    busy.add(agent.login)
                    tasks.create_task(work(agent.login, agent.call_id))
            await asyncio.sleep(0.1)


async def summary(engine: Engine, campaign_id: int, started: datetime) -> dict:
    storage = engine.storage
    row = await storage.reports.campaign_report(campaign_id)
    promises = await storage.reports.promise_totals()
    # Occupancy: time on calls over time logged in, from the agents' state changes.
    states = await storage.reports.agent_state_changes_since(started)
    now = datetime.now(UTC)
    on_call = logged_in = 0.0
    for index, change in enumerate(states):
        following = states[index + 1] if index + 1 < len(states) else None
        end = following.at if following and following.agent_id == change.agent_id else now
        seconds = (end - change.at).total_seconds()
        if change.state not in ("logged_out", "connecting"):
            logged_in += seconds
        if change.state == "on_call":
            on_call += seconds
    live = row.contacts + row.abandons
    return {
        "attempts": row.attempts,
        "contacts": row.contacts,
        "machines": row.machines,
        "abandons": row.abandons,
        "abandon_rate": round(row.abandons / live, 4) if live else 0.0,
        "occupancy": round(on_call / logged_in, 3) if logged_in else 0.0,
        "promises": promises.count,
        "sms_sent": await storage.pool.fetchval(
            "SELECT count(*) FROM messages WHERE channel = 'sms' "
            "AND status IN ('sent', 'delivered', 'replied')"
        ),
        "sms_delivered": await storage.pool.fetchval(
            "SELECT count(*) FROM messages WHERE channel = 'sms' AND delivered_at IS NOT NULL"
        ),
        "promised_amount": str(promises.amount),
        "busy": row.busy,
        "no_answer": row.no_answer,
        # Dead air: from the AMD verdict (the engine's part) and from the answer (AMD included).
        "verdict_to_bridge_p50_ms": row.verdict_to_bridge_p50_ms,
        "verdict_to_bridge_p99_ms": row.verdict_to_bridge_p99_ms,
        "answer_to_bridge_p50_ms": row.answer_to_bridge_p50_ms,
        "answer_to_bridge_p99_ms": row.answer_to_bridge_p99_ms,
    }


@dataclass
class Floor:
    """A contact centre on this machine: sandboxes, the engine, its agents' softphones."""

    engine: Engine
    telephony: Telephony
    postgres: PostgresSandbox
    logins: dict[str, str]  # agent login -> his softphone's endpoint


async def start_floor(
    stack: AsyncExitStack,
    *,
    agents: int,
    keep: bool = False,
    http_port: int | None = None,
    sections: dict | None = None,
) -> Floor:
    """PostgreSQL, the engine's Asterisk and the PSTN, one SIPp softphone per agent, and the
    engine built on them (agents on record, not logged in); all closed with `stack`.
    `sections`: more of the engine's configuration (messages, SMS)."""
    logins = {f"agent{i + 1:02d}": f"agent-{i + 1:03d}" for i in range(agents)}
    passwords = {endpoint: f"{endpoint}-pw" for endpoint in logins.values()}
    agi_port = free_port()
    postgres = await stack.enter_async_context(PostgresSandbox(keep=keep))
    telephony = await stack.enter_async_context(
        Telephony.create(agi_url=f"agi://127.0.0.1:{agi_port}", agents=passwords, keep=keep)
    )
    pbx = telephony.engine
    for endpoint, password in passwords.items():
        await stack.enter_async_context(
            SippPhone(endpoint, password, pbx.sip_host, pbx.sip_port, ring_ms=200)
        )
    config = parse_config(
        {
            "ari": {"url": pbx.ari_url, "username": pbx.ari_username, "password": pbx.ari_password},
            "ami": {"port": pbx.ami_port, "username": pbx.ami_username, "secret": pbx.ami_secret},
            "agi": {"port": agi_port},
            "database": {
                "dsn": await postgres.create_database("demo"),
                "allow_superuser": True,  # the throwaway cluster's only role
            },
            "dialer": {"ring_timeout": 8},
            "agents": {"wrap_up_seconds": 1.0},
            "logging": {"level": "warning"},
            "http": {"port": http_port or free_port(), "secret": secrets.token_urlsafe(32)},
            **(sections or {}),
        },
        "demo",
        environ={},
    )
    engine = await stack.enter_async_context(build_engine(config))
    for login, endpoint in logins.items():
        await engine.storage.agents.upsert_agent(login, login.title(), sip_endpoint=endpoint)
    return Floor(engine, telephony, postgres, logins)


async def run_demo(
    *,
    debtors: int = 150,
    agents: int = 5,
    mode: str = "progressive",
    as_json: bool = False,
    keep: bool = False,
    seed: int = 1,
    mix=MIX,
    talk: tuple[float, float] = (2.0, 5.0),
) -> int:
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    rng = random.Random(seed)
    clock = time.monotonic()
    http_port = free_port()
    inbound_token = secrets.token_urlsafe(16)
    say(
        f"starting PostgreSQL, the engine's Asterisk, the PSTN, {agents} softphones and an SMS "
        "gateway ..."
    )
    async with AsyncExitStack() as stack:
        files = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pbx-demo-")))
        (files / "messages.toml").write_text(DAY_0_TEMPLATES, encoding="utf-8")
        (files / "strategy.toml").write_text(DAY_0_STRATEGY, encoding="utf-8")
        kannel = await stack.enter_async_context(
            KannelSandbox(f"http://127.0.0.1:{http_port}/sms/inbound", inbound_token)
        )
        floor = await start_floor(
            stack,
            agents=agents,
            keep=keep,
            http_port=http_port,
            sections={
                "messages": {
                    "templates_file": str(files / "messages.toml"),
                    "company": "Demo Bank",
                    "pay_link": "https://pay.demo.example/{reference}",
                },
                "sms": {
                    "sendsms_url": kannel.sendsms_url,
                    "username": KANNEL_USERNAME,
                    "password": kannel.password,
                    "sender": "+13125550000",
                    "callback_url": f"http://127.0.0.1:{http_port}",
                    "inbound_token": inbound_token,
                },
            },
        )
        engine, telephony, logins = floor.engine, floor.telephony, floor.logins
        campaign = CampaignConfig(
            name="demo",
            dial_mode=mode,
            compliance="plain",
            agents=list(logins),
            caller_id="+13125550000",
            dial_ratio=2.0,
            max_lines=agents * 3,
            retry={
                "busy": {"after_minutes": 0.05, "max_attempts": 2},
                "no_answer": {"after_minutes": 0.1, "max_attempts": 1},
                "machine": {"after_minutes": 1, "max_attempts": 1},
                "abandoned": {"after_minutes": 0.1, "max_attempts": 1},
            },
            strategy={"file": files / "strategy.toml"},
        )
        runner = await engine.add_campaign(campaign)
        imported = await engine.storage.cases.import_cases(
            sample_cases(debtors, rng, mix), campaign="demo"
        )
        say(f"ready in {time.monotonic() - clock:.1f}s; {imported.inserted} debtors imported")
        texted = await engine.strategies.run_campaign(RunningCampaign(runner.campaign_id, campaign))
        sent = sum(1 for step in texted if step.status == "sent")
        say(f"day-0 SMS: {sent} sent through the gateway, {len(texted) - sent} not")
        started = datetime.now(UTC)
        for login in logins:
            await engine.agents.login(login)
        say(f"{agents} agents logged in; campaign 'demo' ({mode}) starts\n")
        bots = asyncio.get_running_loop().create_task(simulated_agents(engine, rng, talk))
        runner.start()
        idle_checks = 0
        while idle_checks < 3:
            await asyncio.sleep(2)
            stats = await summary(engine, runner.campaign_id, started)
            say(
                f"  {time.monotonic() - clock:5.0f}s  placed {stats['attempts']:4d}  "
                f"in flight {runner.in_flight:2d}  contacts {stats['contacts']:3d}  "
                f"machines {stats['machines']:3d}  abandons {stats['abandons']:2d}"
            )
            idle_checks = idle_checks + 1 if runner.out_of_work and not runner.in_flight else 0
        runner.stop()
        bots.cancel()
        await asyncio.gather(bots, return_exceptions=True)
        stats = await summary(engine, runner.campaign_id, started)
        # What must hold after any run (pbx_engine.lab.invariants), checked on this one.
        violations = await violations_when_quiet(
            engine.storage.pool,
            telephony.engine,
            telephony.pstn,
            lambda: agent_views(engine.agents.all()),
        )
        stats["invariant_violations"] = len(violations)
        for violation in violations:
            say(f"  invariant broken: {violation}")
        for login in logins:
            await engine.agents.logout(login)
    stats["seconds"] = round(time.monotonic() - clock, 1)
    if as_json:
        print(json.dumps(stats))
    else:
        say("\nsummary")
        for key, value in stats.items():
            say(f"  {key:18} {value}")
    return 0
