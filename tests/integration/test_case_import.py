"""Importing case files into PostgreSQL: bulk load, re-import updates, the CLI's report."""

import asyncio
import sys
from decimal import Decimal

from pbx_engine.cases.importer import CaseRow, PhoneEntry
from pbx_engine.storage import Storage


def row(line, reference, phones, owner=None, amount="100.00"):
    return CaseRow(
        line=line,
        creditor="Acme",
        reference=reference,
        debtor_name=f"Debtor {line}",
        amount_owed=Decimal(amount),
        currency="USD",
        phones=tuple(PhoneEntry(p, "mobile") for p in phones),
        owner_agent=owner,
    )


async def test_given_new_cases_when_imported_then_cases_and_numbers_are_stored(storage: Storage):
    await storage.agents.upsert_agent("anna", "Anna")
    result = await storage.cases.import_cases(
        [
            row(2, "A-1", ["+12025550101", "+12025550102"], owner="anna"),
            row(3, "A-2", ["+12025550103"]),
        ],
        campaign="spring",
    )
    assert (result.inserted, result.updated, result.phone_numbers) == (2, 0, 3)
    assert result.rejected == []
    match = await storage.cases.find_case_by_number("+12025550102")
    assert match.reference == "A-1" and match.owner_agent_id is not None
    campaign = await storage.pool.fetchval(
        "SELECT count(*) FROM cases c JOIN campaigns k ON k.id = c.campaign_id "
        "WHERE k.name = 'spring'"
    )
    assert campaign == 2


async def test_given_a_reimport_when_loaded_then_cases_update_and_numbers_follow_the_file(
    storage: Storage,
):
    await storage.cases.import_cases([row(2, "A-1", ["+12025550101", "+12025550102"])])
    result = await storage.cases.import_cases(
        [row(2, "A-1", ["+12025550102", "+12025550109"], amount="80.00")]
    )
    assert (result.inserted, result.updated) == (0, 1)
    numbers = await storage.pool.fetch("SELECT e164, position FROM phone_numbers ORDER BY position")
    assert [(n["e164"], n["position"]) for n in numbers] == [
        ("+12025550102", 0),
        ("+12025550109", 1),
    ]
    assert await storage.pool.fetchval("SELECT amount_owed FROM cases") == Decimal("80.00")
    assert await storage.pool.fetchval("SELECT count(*) FROM cases") == 1


async def test_given_an_unknown_agent_when_imported_then_only_that_row_is_rejected(
    storage: Storage,
):
    result = await storage.cases.import_cases(
        [row(2, "A-1", ["+12025550101"]), row(7, "A-2", ["+12025550102"], owner="ghost")]
    )
    assert result.inserted == 1
    assert [(e.line, e.reason) for e in result.rejected] == [(7, "unknown agent login 'ghost'")]


async def test_given_a_csv_with_bad_rows_when_imported_by_the_cli_then_it_reports_and_loads(
    database_dsn: str,
    tmp_path,
):
    config = tmp_path / "engine.toml"
    config.write_text(
        f'default_region = "US"\n[ari]\nurl = "http://127.0.0.1:1"\n'
        f'username = "x"\n[database]\ndsn = "{database_dsn}"\n'
    )
    csv_file = tmp_path / "cases.csv"
    csv_file.write_text(
        "reference,debtor_name,amount_owed,currency,creditor,phones\n"
        "C-1,Maria Lopez,420.50,USD,Acme,mobile:(312) 555-0177\n"
        "C-2,No Number,10,USD,Acme,\n"
        "C-3,John Doe,99,USD,Acme,+1 202 555 0100\n"
    )
    command = [
        sys.executable,
        "-m",
        "pbx_engine.cli",
        "import",
        "cases",
        str(csv_file),
        "--config",
        str(config),
        "--campaign",
        "autumn",
    ]
    code, out, err = await run(command)
    assert code == 2, err  # loaded, with rejected rows to look at
    assert "2 new case(s), 0 updated, 2 phone number(s), 1 row(s) rejected" in out
    assert "line 3: no phone number" in err

    _, out, _ = await run(command)
    assert "0 new case(s), 2 updated" in out


async def run(command: list[str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()
