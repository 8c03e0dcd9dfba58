"""Caller-ID rotation on the real sandboxes: the phone network sees the number chosen for the
debtor's area, and each attempt records it."""

from datetime import date
from decimal import Decimal

import aiohttp

from pbx_engine.agents.states import AgentStatus
from pbx_engine.callerid.pools import EMPTY
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from tests.integration.test_campaigns import attempts_of
from tests.waiting import eventually

POOLS = """
[[pool]]
name = "geo"
numbers = [{ number = "+12025550150" }, { number = "+12125550150" }]

[[pool]]
name = "main"
numbers = [{ number = "+18005550150" }]
"""


async def callers_seen_by_the_network(telephony: Telephony) -> set[str]:
    """The caller numbers of the calls the PSTN sandbox has up now."""
    pstn = telephony.pstn
    async with aiohttp.ClientSession(headers=pstn.ari_headers) as http:
        async with http.get(f"{pstn.ari_url}/ari/channels") as response:
            return {c["caller"]["number"] for c in await response.json()}


async def test_given_number_pools_then_each_debtor_sees_a_number_of_his_own_area(
    connected_engine: Engine, ready_agent: AgentStatus, telephony: Telephony, tmp_path
):
    engine = connected_engine
    pools_file = tmp_path / "numbers.toml"
    pools_file.write_text(POOLS)
    engine.callerid.path = pools_file
    try:
        reloaded = await engine.callerid.reload()
        assert (reloaded.pools, reloaded.numbers) == (2, 3)
        campaign = CampaignConfig(
            name="callerid-test",
            dial_mode="progressive",
            compliance="plain",
            agents=["anna"],
            caller_id_pools={"pools": ["geo"], "fallback": "main"},
        )
        runner = await engine.add_campaign(campaign)
        cases = []
        for i, prefix in enumerate(["+1202555072", "+1212555072"]):  # Washington, New York
            case_id, _ = await engine.storage.cases.upsert_case(
                creditor="Acme",
                reference=f"CID-{i}",
                debtor_name=f"CID-{i}",
                amount_owed=Decimal("10.00"),
                currency="USD",
                numbers=[(PstnBehaviour.TALK.number(prefix), "landline")],
                campaign_id=runner.campaign_id,
                due_date=date(2025, 1, 1 + i),
            )
            cases.append(case_id)
        runner.start()
        try:
            for case_id, expected in zip(cases, ["+12025550150", "+12125550150"], strict=True):

                async def bridged(case_id=case_id):
                    rows = await attempts_of(engine, case_id)
                    return rows[0] if rows and rows[0]["bridged_at"] else None

                attempt = await eventually(bridged, timeout=25, what="the debtor to be put through")
                assert expected in await callers_seen_by_the_network(telephony)
                stored = await engine.storage.attempts.get_attempt(attempt["channel_id"])
                assert stored.caller_id == expected
                await engine.ari.hangup(attempt["channel_id"])
        finally:
            runner.stop()
        used = {row["number"]: row["used_today"] for row in engine.callerid.report()}
        assert used == {"+12025550150": 1, "+12125550150": 1, "+18005550150": 0}

        # A typo in the file is refused, with its line, and the running pools stay.
        pools_file.write_text(POOLS.replace('{ number = "+18005550150" }', '{ numbr = "+1800" }'))
        try:
            await engine.callerid.reload()
        except Exception as error:
            assert ":8: pool.1.numbers.0.numbr: unknown key" in str(error)
        else:
            raise AssertionError("a bad pools file was accepted")
        assert len(engine.callerid.pools.numbers()) == 3
    finally:
        engine.callerid.use(EMPTY)
        engine.callerid.path = None
