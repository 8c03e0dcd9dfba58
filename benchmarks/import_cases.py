"""Benchmark: import a generated file of N cases (default 100,000) into a sandbox PostgreSQL.

    .venv/bin/python benchmarks/import_cases.py [N]

Times the two halves apart (checking the CSV, loading it) and a second import of the same file
(every case updated). Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import io
import random
import sys
import time

from pbx_engine.cases.importer import parse_cases
from pbx_engine.config import DatabaseConfig
from pbx_engine.lab.sandbox.postgres import PostgresSandbox
from pbx_engine.storage import Storage, migrate


def generate(count: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = io.StringIO()
    out.write("reference,debtor_name,amount_owed,currency,creditor,phones,due_date,segment\n")
    for i in range(count):
        area = rng.choice(["202", "312", "415", "617", "305", "713"])
        mobile = f"+1{area}555{rng.randrange(10000):04d}"
        home = f"({area}) 555-{rng.randrange(10000):04d}"
        out.write(
            f"R-{i:07d},Debtor {i},{rng.randrange(100, 500000) / 100:.2f},USD,"
            f"Acme Bank,mobile:{mobile};landline:{home},2026-0{rng.randrange(1, 10)}-15,"
            f"{rng.choice(['early', 'late', 'legal'])}\n"
        )
    return out.getvalue()


async def main(count: int) -> None:
    text = generate(count)
    async with PostgresSandbox() as postgres:
        storage_config = DatabaseConfig(dsn=await postgres.create_database("bench"))
        async with Storage.open(storage_config) as storage:
            await migrate(storage.pool)
            for label in ("first import", "re-import"):
                started = time.perf_counter()
                batch = parse_cases(io.StringIO(text), "US")
                checked = time.perf_counter()
                result = await storage.cases.import_cases(batch.rows, campaign="bench")
                done = time.perf_counter()
                print(
                    f"{label}: {count} rows, {len(batch.errors)} rejected; "
                    f"check {checked - started:.2f}s, load {done - checked:.2f}s, "
                    f"total {done - started:.2f}s ({count / (done - started):,.0f} rows/s); "
                    f"{result.inserted} new, {result.updated} updated, "
                    f"{result.phone_numbers} numbers"
                )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
