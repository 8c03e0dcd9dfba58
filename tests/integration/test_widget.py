"""The creditors' website widget on the real engine: a supervisor makes a case's link, the debtor
opens it on a phone-sized screen (Chromium), asks to be called back, and the campaign dials him
through to the case's owner; or he presses "Call us now" and his browser reaches the owner
through the phone menu, his owner's voice heard in the page. And what an open form must refuse:
a number on no case, another number than the case's, a forged link, a post from another site, a
form filled in a loop."""

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, expect

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import WebConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.web.api import build_app
from pbx_engine.widget.rules import WidgetLimits
from pbx_engine.widget.service import WidgetService

# A Chromium whose microphone is a WAV file (a 1000 Hz tone): the fixture.
from tests.integration.browsers import fits_a_phone
from tests.integration.test_browser_phone import browser  # noqa: F401
from tests.waiting import eventually

# Listens to the widget call's remote stream until there is sound (ms it took, or -1).
HEARS_SOUND = """async (timeoutMs) => {
  const started = performance.now();
  const context = new AudioContext();
  await context.resume();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(window.widgetCaller.remoteStream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  try {
    while (performance.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      analyser.getFloatTimeDomainData(samples);
      const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
      if (rms > 0.01) return performance.now() - started;
    }
    return -1;
  } finally {
    await context.close();
  }
}"""

NUMBER = PstnBehaviour.TALK.number("+1202555031")
SITE = "https://www.acme-bank.example"


@pytest.fixture
async def widget_api(connected_engine: Engine) -> AsyncIterator[str]:
    """The shared engine with a [widget] (4 requests an address an hour, one call back a
    number a day), on a server of its own behind a "proxy" (this host): each test names its
    client's address in X-Forwarded-For, so the caps count each test's requests only."""
    engine = connected_engine
    engine.widget = WidgetService(
        engine.storage,
        engine.invitation_secret,
        "US",
        public_url="http://127.0.0.1",
        sites=(SITE,),
        limits=WidgetLimits(per_address_per_hour=4, per_number_per_day=1),
    )
    web = WebConfig(mode="development", trusted_proxies=["127.0.0.1"])
    server = TestServer(build_app(engine, web), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        engine.widget = None


async def debtors_phone(chromium: Browser, network: str) -> tuple[BrowserContext, str]:
    """A phone-sized browser reaching the engine through its proxy from a fresh address of
    `network` (a /24 prefix), and that address: the widget's caps count per address."""
    address = f"{network}.{secrets.randbelow(250) + 1}"
    context = await chromium.new_context(
        viewport={"width": 390, "height": 844}, extra_http_headers={"X-Forwarded-For": address}
    )
    return context, address


async def test_given_a_case_link_when_the_debtor_asks_on_his_phone_then_his_owner_calls_him_back(
    connected_engine: Engine,
    widget_api: str,
    agent_phone: SippPhone,
    browser: Browser,  # noqa: F811
):
    engine, storage = connected_engine, connected_engine.storage
    # The owner is the suite's agent of agent-001 (an endpoint is one agent's only).
    await storage.agents.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001")
    await storage.agents.upsert_agent("sue", "Sue", role="supervisor")
    owner = await storage.agents.get_agent("anna")
    runner = await engine.add_campaign(
        CampaignConfig(name="widget", dial_mode="progressive", compliance="plain", agents=["anna"])
    )
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference="WIDGET-1",
        debtor_name="Dora Debtor",
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[(NUMBER, "mobile")],
        campaign_id=runner.campaign_id,
        owner_agent_id=owner.id,
    )
    token = await storage.issue_agent_token("sue")
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as sue,
        sue.post(f"{widget_api}/cases/{case_id}/widget-link") as response,
    ):
        assert response.status == 201, await response.text()
        link = (await response.json())["url"].replace("http://127.0.0.1", widget_api)

    context, _ = await debtors_phone(browser, "198.51.100")
    page = await context.new_page()
    response = await page.goto(link)
    assert response is not None
    assert f"frame-ancestors {SITE}" in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    await page.fill("#number", NUMBER)
    await page.click("#send")
    await expect(page.locator("#said")).to_have_attribute("data-taken", "true")
    await expect(page.locator("#said")).to_contain_text("We will call you back")
    await fits_a_phone(page, "widget-phone.png")
    await page.reload()  # asked again: one call back a number a day
    await page.fill("#number", NUMBER)
    await page.click("#send")
    await expect(page.locator("#said")).to_contain_text("already have a request")
    await context.close()
    callback = await storage.pool.fetchrow(
        "SELECT id, source, owner_agent_id, status, due_at FROM callbacks WHERE case_id = $1",
        case_id,
    )
    assert (callback["source"], callback["owner_agent_id"], callback["status"]) == (
        "widget", owner.id, "pending",
    )  # fmt: skip
    assert callback["due_at"] <= datetime.now(UTC)

    await engine.agents.login("anna")
    runner.start()
    try:

        async def put_through():
            row = await storage.pool.fetchrow(
                "SELECT channel_id, agent_id FROM call_attempts "
                "WHERE case_id = $1 AND bridged_at IS NOT NULL",
                case_id,
            )
            return row

        call = await eventually(put_through, timeout=20, what="the call back put through")
        assert call["agent_id"] == owner.id
        await engine.ari.hangup(call["channel_id"])
    finally:
        runner.stop()
        await engine.agents.logout("anna")


async def test_given_an_open_form_then_strangers_numbers_forgeries_other_sites_and_loops_get_nothing(  # noqa: E501
    connected_engine: Engine, widget_api: str
):
    storage, widget = connected_engine.storage, connected_engine.widget
    assert widget is not None
    number = PstnBehaviour.TALK.number("+1202555032")
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference="WIDGET-2",
        debtor_name="Dan",
        amount_owed=Decimal("5.00"),
        currency="USD",
        numbers=[(number, "mobile")],
    )
    url, _ = await widget.link(case_id)
    token = url.split("case=", 1)[1]
    address = f"203.0.113.{secrets.randbelow(250) + 1}"
    own_page = {"Origin": widget_api, "X-Forwarded-For": address}

    async with aiohttp.ClientSession() as web:

        async def ask(body: dict, origin: str = widget_api) -> tuple[int, dict]:
            headers = own_page | {"Origin": origin}
            async with web.post(
                f"{widget_api}/widget/callback", json=body, headers=headers
            ) as response:
                return response.status, await response.json()

        stranger = "+12025550000"
        assert (await ask({"number": stranger}))[0] == 404  # on no case
        assert (await ask({"number": stranger, "case": token}))[0] == 422  # not his number
        assert (await ask({"number": number, "case": token[:-2] + "xx"}))[0] == 403  # forged
        status, said = await ask({"number": "not a number"})
        assert status == 422 and said["error"]
        assert (await ask({"number": number}, origin=SITE))[0] == 403  # another site's script
        # The fifth request from this address within the hour: refused, whatever it asks.
        status, said = await ask({"number": number})
        assert status == 429 and "Too many" in said["message"]

    rows = [r for r in await storage.widget.requests(limit=50) if r.client_address == address]
    assert [r.reason for r in reversed(rows)] == [
        "unknown_number", "not_his_number", "bad_link", "bad_number", "address_rate",
    ]  # fmt: skip
    assert not any(r.allowed for r in rows)
    assert not await storage.pool.fetchval(
        "SELECT count(*) FROM callbacks WHERE case_id = $1", case_id
    )


async def test_given_a_case_link_when_the_debtor_calls_from_the_page_then_his_owner_takes_it(
    connected_engine: Engine,
    widget_api: str,
    agent_phone: SippPhone,
    browser: Browser,  # noqa: F811
):
    engine, storage = connected_engine, connected_engine.storage
    await storage.agents.upsert_agent("anna", "Anna Nowak", sip_endpoint="agent-001")
    owner = await storage.agents.get_agent("anna")
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference="WIDGET-3",
        debtor_name="Carl Caller",
        amount_owed=Decimal("12.00"),
        currency="USD",
        numbers=[(PstnBehaviour.TALK.number("+1202555033"), "mobile")],
        owner_agent_id=owner.id,
    )
    assert engine.widget is not None
    url, _ = await engine.widget.link(case_id)
    await engine.agents.login("anna")
    try:
        context, address = await debtors_phone(browser, "192.0.2")
        page = await context.new_page()
        await page.goto(url.replace("http://127.0.0.1", widget_api))
        await page.click("#call-now")
        await expect(page.locator("#call-state")).to_have_attribute(
            "data-state", "in_call", timeout=15000
        )

        async def taken_by_owner():
            return await storage.pool.fetchrow(
                "SELECT channel_id, agent_id, dialled FROM call_attempts "
                "WHERE case_id = $1 AND direction = 'inbound' AND bridged_at IS NOT NULL",
                case_id,
            )

        call = await eventually(taken_by_owner, timeout=20, what="the owner taking the call")
        assert (call["agent_id"], call["dialled"]) == (owner.id, "widget")
        leg = await engine.ari.get_channel(call["channel_id"])
        assert leg is not None and leg.name.startswith("PJSIP/guest-")
        # The owner's softphone (SIPp) speaks a recorded voice: the page hears it.
        assert await page.evaluate(HEARS_SOUND, 10000) >= 0, "the page heard nothing"
        await fits_a_phone(page, "widget-call-phone.png")
        await page.click("#hang-up")
        await expect(page.locator("#call-state")).to_have_attribute("data-state", "ended")
        await context.close()
    finally:
        await engine.agents.logout("anna")
    rows = [r for r in await storage.widget.requests(limit=20) if r.client_address == address]
    assert [(r.kind, r.case_id, r.allowed) for r in rows] == [("call_now", case_id, True)]
