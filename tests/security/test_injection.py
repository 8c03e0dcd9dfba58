"""Imported text that tries to become a PBX command: a case reference whose quoted CSV field
holds a line break and an `EXEC System` line, the same reference written straight into the
database, a softphone endpoint with CR/LF, and what is left to run a command with if all that
failed (the PBX's modules, and the user it runs as)."""

import io
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from pbx_engine.agents.service import AgentError
from pbx_engine.cases.importer import parse_cases
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import AsteriskSandbox, Telephony
from pbx_engine.storage import Storage
from tests.waiting import eventually

HEADER = "reference,debtor_name,amount_owed,currency,creditor,phones"


def _process_status(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


def _injection(marker: Path) -> str:
    """What a case reference would smuggle into FastAGI: `SET VARIABLE CASE_REF "R-1` ends
    at the line break, and Asterisk runs the next line as a command of its own."""
    return f'R-1\nEXEC System "touch {marker}"'


async def test_agi_injection_row_in_a_case_file_is_refused_at_import(
    storage: Storage, tmp_path: Path
):
    bad_reference = _injection(tmp_path / "pwned").replace('"', '""')
    case_file = (
        f"{HEADER}\n"
        "R-0,Ann Lee,10.00,USD,Acme,+12025550100\n"
        f'"{bad_reference}",Bob Ray,20.00,USD,Acme,+12025550101\n'
        "R-2,Cy Fox,30.00,USD,Acme,+12025550102\n"
    )

    batch = parse_cases(io.StringIO(case_file, newline=""), "US")
    result = await storage.cases.import_cases(batch.rows)

    [error] = batch.errors
    assert error.line == 3  # where the bad row starts (its quoted field spans lines 3 and 4)
    assert str(error) == (
        "line 3: reference holds a control character U+000A (LINE FEED) at position 4"
    )
    assert result.inserted == 2  # the good rows load
    references = await storage.pool.fetch("SELECT reference, debtor_name FROM cases")
    assert sorted(r["reference"] for r in references) == ["R-0", "R-2"]
    assert "Bob Ray" not in {r["debtor_name"] for r in references}
    numbers = await storage.pool.fetch("SELECT e164 FROM phone_numbers")
    assert "+12025550101" not in {r["e164"] for r in numbers}


async def test_agi_injection_in_a_case_reference_written_into_the_database_is_refused(
    connected_engine: Engine, telephony: Telephony
):
    storage = connected_engine.storage
    # A number no other test calls from: the shared engine keeps every test's attempts.
    caller = "+13125550166"
    marker = telephony.engine.run_dir / "pwned-by-agi"  # type: ignore[operator]
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme",
        reference="INJ-1",
        debtor_name="Mallory",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[(caller, "mobile")],
    )
    # As if stored before references were checked, or by hand: past every import check.
    await storage.pool.execute(
        "UPDATE cases SET reference = $1 WHERE id = $2", _injection(marker), case_id
    )
    since = await storage.pool.fetchval("SELECT now()")
    try:
        with capture_logs() as logs:
            await telephony.pstn.originate(
                "PJSIP/+12025551000@engine", context="debtor-speaks", caller_id=caller
            )

            async def inbound_attempt():
                return await storage.pool.fetchrow(
                    "SELECT case_id FROM call_attempts WHERE direction = 'inbound' "
                    "AND caller_id = $1 AND ended_at IS NOT NULL AND created_at >= $2",
                    caller,
                    since,
                )

            # The debtor's call is not lost: it is recorded, only without the case.
            await eventually(inbound_attempt, timeout=20, what="the inbound call to be recorded")
        refusals = [e for e in logs if e["event"] == "agi.unsafe_value_refused"]
        assert refusals, [e["event"] for e in logs]
        assert "AGI variable CASE_REF holds a control character U+000A" in refusals[0]["reason"]
        assert not marker.exists()
        assert "EXEC System" not in telephony.engine.log_text()
    finally:
        await storage.pool.execute("DELETE FROM cases WHERE id = $1", case_id)


async def test_crlf_in_a_softphone_endpoint_written_into_the_database_is_refused_at_ari(
    connected_engine: Engine, telephony: Telephony
):
    storage = connected_engine.storage
    agents = connected_engine.agents
    await storage.agents.upsert_agent("mallory", "Mallory", sip_endpoint="agent-mallory")
    await storage.pool.execute(
        "UPDATE agents SET sip_endpoint = $1 WHERE login = 'mallory'",
        "agent-001\r\nX-Injected: 1",
    )
    try:
        with pytest.raises(AgentError, match="control character U\\+000D"):
            await agents.login("mallory")
        # Nothing reached Asterisk: no leg was created for him, no bridge left behind.
        channels = await telephony.engine.channels()
        assert not [c for c in channels if "mallory" in c["id"]]
        bridges = await connected_engine.ari.list_bridges()
        assert not [b for b in bridges if "mallory" in b.id]
    finally:
        status = agents.status("mallory")
        if status is not None and status.state.value != "logged_out":
            await agents.logout("mallory")
        await storage.pool.execute("DELETE FROM agents WHERE login = 'mallory'")


async def test_crlf_in_a_payment_reference_sent_to_the_api_is_refused(
    api: str, connected_engine: Engine
):
    storage = connected_engine.storage
    await storage.agents.upsert_agent("sam-sec", "Sam", role="supervisor")
    headers = {"Authorization": f"Bearer {await storage.issue_agent_token('sam-sec')}"}
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme",
        reference="INJ-2",
        debtor_name="Mallory",
        amount_owed=Decimal("10.00"),
        currency="USD",
        numbers=[("+13125550189", "mobile")],
    )
    body = {"amount": "5.00", "paid_on": "2026-12-01", "reference": "TX-1\r\nEXEC System x"}
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{api}/cases/{case_id}/payments", json=body, headers=headers) as response,
        ):
            assert response.status == 422
            [problem] = (await response.json())["errors"]
        assert problem["field"] == "reference"
        assert "control character U+000D (CARRIAGE RETURN)" in problem["problem"]
        stored = await storage.pool.fetchval(
            "SELECT count(*) FROM payments WHERE case_id = $1", case_id
        )
        assert stored == 0
    finally:
        await storage.pool.execute("DELETE FROM cases WHERE id = $1", case_id)


@pytest.mark.parametrize("profile", ["engine", "pstn"])
async def test_running_a_shell_command_from_the_dialplan_is_refused(
    telephony: Telephony, profile: str
):
    pbx: AsteriskSandbox = getattr(telephony, profile)
    for like in ("system", "shell", "func_env", "curl", "spool"):
        assert "0 modules loaded" in await pbx.cli(f"module show like {like}")
    for application in ("System", "TrySystem"):
        shown = await pbx.cli(f"core show application {application}")
        assert "not registered" in shown.lower()
    for function in ("SHELL", "FILE", "CURL"):
        shown = await pbx.cli(f"core show function {function}")
        assert "no function by that name" in shown.lower()


@pytest.mark.parametrize("profile", ["engine", "pstn"])
async def test_asterisk_running_as_root_is_refused(telephony: Telephony, profile: str):
    pbx: AsteriskSandbox = getattr(telephony, profile)
    assert pbx.pid is not None
    status = _process_status(pbx.pid)
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uids = [int(v) for v in fields["Uid"].split()]  # real, effective, saved, filesystem
    gids = [int(v) for v in fields["Gid"].split()]
    groups = [int(v) for v in fields["Groups"].split()]
    assert 0 not in uids and 0 not in gids and 0 not in groups, status
    # The tests still read what it writes.
    assert (pbx.run_dir / "log" / "messages").read_text()  # type: ignore[operator]
