"""Benchmark: dead air, from the HUMAN verdict to the debtor in the agent's bridge.

    .venv/bin/python benchmarks/bridge_latency.py [CALLS] [AGENTS]

Runs the demo's machinery with every debtor a talking person, agents who hang up after a
moment, and reports the p50/p99 of verdict-to-bridge (the engine's own part: event in, bridge
request done) and of answer-to-bridge (AMD's listening included). Not part of the test suite.
"""

from __future__ import annotations

import asyncio
import sys

from pbx_engine.lab.demo import run_demo
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.logs import configure_logging

if __name__ == "__main__":
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    configure_logging("error", "console")
    asyncio.run(
        run_demo(
            debtors=calls,
            agents=agents,
            as_json=True,
            talk=(0.3, 0.8),
            mix=[(PstnBehaviour.TALK, 1)],
        )
    )
