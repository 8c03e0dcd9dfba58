"""The README's first command, small: a whole campaign on fresh sandboxes, summary as JSON."""

import asyncio
import json
import sys


async def test_given_a_small_demo_when_run_then_it_ends_with_the_summary_as_json():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pbx_engine.cli",
        "demo",
        "--debtors",
        "8",
        "--agents",
        "2",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, err.decode()[-3000:]
    summary = json.loads(out)
    assert {
        "attempts",
        "contacts",
        "machines",
        "abandons",
        "abandon_rate",
        "occupancy",
        "promises",
        "invariant_violations",
        "sms_sent",
        "sms_delivered",
    } <= set(summary)
    # The strategy's day-0 SMS went to every debtor before the first call, and the network
    # acknowledged each (Kannel's delivery report, through the engine's HTTP server).
    assert summary["sms_sent"] == summary["sms_delivered"] == 8
    assert summary["attempts"] >= 8
    assert summary["abandons"] == 0  # progressive: every live debtor has his agent reserved
    assert summary["invariant_violations"] == 0, err.decode()[-3000:]
    assert b"placed" in err  # progress lines go to stderr when the summary is JSON
