"""Benchmark: identifying inbound callers and routing them, under load.

    .venv/bin/python benchmarks/inbound_routing.py [CASES] [AGENTS] [ATTEMPTS_PER_CASE]

Loads CASES cases (default 10,000; two numbers each, one shared with another case, as happens
when one debtor owes two creditors) into a sandbox PostgreSQL, with a history of calls presented
from 20 DIDs, then times `find_case_by_number(caller, did)` (the dialplan's look-up) for 2,000
callers, 8 at a time, and the routing decision for a floor of AGENTS agents (default 100).
Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import io
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from pbx_engine.agents.states import AgentState
from pbx_engine.cases.importer import parse_cases
from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.routing.acd import AgentView, route_inbound
from pbx_engine.storage import Storage, migrate

DIDS = [f"+1202555{9000 + i:04d}" for i in range(20)]


def case_file(count: int, rng: random.Random) -> tuple[str, list[str]]:
    out = io.StringIO()
    out.write("reference,debtor_name,amount_owed,currency,creditor,phones\n")
    numbers = []
    for i in range(count):
        own = f"+1312{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
        shared = numbers[rng.randrange(len(numbers))] if numbers and i % 10 == 0 else own
        numbers.append(own)
        creditor = "Globex" if i % 2 else "Acme"
        out.write(f"B-{i},Debtor {i},100.00,USD,{creditor},mobile:{own};landline:{shared}\n")
    return out.getvalue(), numbers


async def main(cases: int, agents: int, per_case: int) -> None:
    rng = random.Random(1)
    text, numbers = case_file(cases, rng)
    async with PostgresSandbox() as postgres:
        config = DatabaseConfig(dsn=await postgres.create_database("bench"))
        async with Storage.open(config) as storage:
            await migrate(storage.pool)
            batch = parse_cases(io.StringIO(text), "US")
            await storage.cases.import_cases(batch.rows, campaign="bench")
            started = time.perf_counter()
            await storage.pool.execute(
                """INSERT INTO call_attempts (channel_id, direction, case_id, phone_number_id,
                                              dialled, caller_id, created_at, outcome)
                   SELECT 'h-' || p.id || '-' || g, 'outbound', p.case_id, p.id, p.e164,
                          ($1::text[])[1 + (p.id * 7 + g) % 20],
                          now() - (g || ' hours')::interval, 'no_answer'
                   FROM phone_numbers p, generate_series(1, $2) g""",
                DIDS,
                per_case,
            )
            await storage.pool.execute("ANALYZE")
            attempts = await storage.pool.fetchval("SELECT count(*) FROM call_attempts")
            print(
                f"{cases:,} cases, {attempts:,} attempts on record "
                f"(history made in {time.perf_counter() - started:.1f} s)"
            )

            callers = [(rng.choice(numbers), rng.choice(DIDS)) for _ in range(2000)]
            timings: list[float] = []
            found = 0
            gate = asyncio.Semaphore(8)

            async def lookup(caller: str, did: str) -> None:
                nonlocal found
                async with gate:
                    t = time.perf_counter()
                    match = await storage.cases.find_case_by_number(caller, did)
                    timings.append(time.perf_counter() - t)
                    found += match is not None

            started = time.perf_counter()
            await asyncio.gather(*(lookup(c, d) for c, d in callers))
            elapsed = time.perf_counter() - started
            timings.sort()
            print(
                f"identification: {len(callers)} look-ups in {elapsed:.2f} s "
                f"({len(callers) / elapsed:,.0f}/s, 8 at a time), "
                f"p50 {statistics.median(timings) * 1000:.2f} ms, "
                f"p99 {timings[int(len(timings) * 0.99)] * 1000:.2f} ms, {found} identified"
            )

    now = datetime.now(UTC)
    states = [AgentState.READY, AgentState.ON_CALL, AgentState.WRAP_UP, AgentState.PAUSED]
    floor = [
        AgentView(
            f"agent-{i}",
            f"team-{i % 10}",
            rng.choice(states),
            now - timedelta(seconds=rng.randrange(300)),
        )
        for i in range(agents)
    ]
    decisions = 10_000
    started = time.perf_counter()
    for i in range(decisions):
        route_inbound(
            floor,
            now,
            owner=f"agent-{i % agents}",
            owner_team=f"team-{i % 10}",
            owner_wait=10,
            wrap_up_seconds=15,
        )
    per = (time.perf_counter() - started) / decisions
    print(f"routing: {decisions:,} decisions over {agents} agents, {per * 1e6:.1f} µs each")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(
        main(*(args + [10_000, 100, 5][len(args) :]))  # type: ignore[arg-type]
    )
