"""`pbx-engine demo`: the whole stack on this machine, a few calls, and what happened to each.

Starts a private PostgreSQL, the engine's Asterisk and the PSTN Asterisk, runs the engine against
them, places one call per kind of far end and prints the attempts as PostgreSQL holds them.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from pbx_engine.config import parse_config
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import build_engine
from pbx_engine.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.sandbox.ports import free_port
from pbx_engine.sandbox.postgres import PostgresSandbox

CALLS = [
    ("a person says Hello?", PstnBehaviour.HUMAN),
    ("voicemail with a beep", PstnBehaviour.MACHINE),
    ("a busy line", PstnBehaviour.BUSY),
    ("nobody answers", PstnBehaviour.NO_ANSWER),
    ("the network rejects", PstnBehaviour.REJECT),
    ("a number that does not exist", PstnBehaviour.UNALLOCATED),
]


def _seconds(start, end) -> str:
    return f"{(end - start).total_seconds():5.1f}s" if start and end else "    -"


async def run_demo(*, keep: bool = False) -> int:
    started = time.monotonic()
    agi_port = free_port()
    print("starting PostgreSQL, the engine's Asterisk and the PSTN Asterisk ...")
    async with (
        PostgresSandbox(keep=keep) as postgres,
        Telephony.create(agi_url=f"agi://127.0.0.1:{agi_port}", keep=keep) as telephony,
    ):
        pbx = telephony.engine
        config = parse_config(
            {
                "ari": {
                    "url": pbx.ari_url,
                    "username": pbx.ari_username,
                    "password": pbx.ari_password,
                },
                "ami": {
                    "port": pbx.ami_port,
                    "username": pbx.ami_username,
                    "secret": pbx.ami_secret,
                },
                "agi": {"port": agi_port},
                "database": {"dsn": await postgres.create_database("demo")},
                "dialer": {"ring_timeout": 8, "caller_id": "+12025550999"},
                "logging": {"level": "warning"},
            },
            "demo",
            environ={},
        )
        print(f"ready in {time.monotonic() - started:.1f}s; placing {len(CALLS)} calls at once\n")
        async with build_engine(config) as engine:
            results = await asyncio.gather(
                *(
                    engine.dialer.call(CallRequest(number=behaviour.number()))
                    for _, behaviour in CALLS
                )
            )
            print(
                f"{'far end':30} {'number':14} {'outcome':10} {'AMD':24} {'ring':>6} "
                f"{'verdict':>7} {'cause'}"
            )
            for (label, _), result in zip(CALLS, results, strict=True):
                attempt = await engine.storage.get_attempt(result.channel_id)
                assert attempt is not None
                amd = f"{attempt.amd_status} {attempt.amd_cause}" if attempt.amd_status else "-"
                ring_end = attempt.answered_at or attempt.ended_at
                print(
                    f"{label:30} {attempt.dialled:14} {attempt.outcome:10} {amd:24} "
                    f"{_seconds(attempt.originated_at, ring_end):>6} "
                    f"{_seconds(attempt.answered_at, attempt.amd_decided_at):>7} "
                    f"{attempt.hangup_cause} {attempt.hangup_cause_text}"
                )

            print("\na debtor calls back from a number on file ...")
            case_id, _ = await engine.storage.upsert_case(
                creditor="Acme Bank",
                reference="DEMO-1",
                debtor_name="Maria Lopez",
                amount_owed=Decimal("420.50"),
                currency="USD",
                numbers=[("+13125550177", "mobile")],
            )
            await telephony.pstn.originate(
                "PJSIP/+12025551000@engine", context="debtor-speaks", caller_id="+13125550177"
            )
            row = None
            for _ in range(100):
                row = await engine.storage.pool.fetchrow(
                    "SELECT case_id FROM call_attempts WHERE direction = 'inbound' "
                    "AND ended_at IS NOT NULL"
                )
                if row:
                    break
                await asyncio.sleep(0.2)
            found = row is not None and row["case_id"] == case_id
            print(
                f"inbound call identified as case DEMO-1 (Maria Lopez): {'yes' if found else 'no'}"
            )
            endpoints = await engine.ami.endpoints() if engine.ami else []
            print(
                "AMI endpoint states: " + ", ".join(f"{e.name}={e.device_state}" for e in endpoints)
            )
    print(f"\ndone in {time.monotonic() - started:.1f}s")
    return 0
