"""SMS to debtors through a real gateway (Kannel, its fake SMSC client playing the network) and
a real PostgreSQL, with the engine's own HTTP handlers taking Kannel's delivery reports and the
debtors' replies: a reminder reaches the network with its opt-out line and is marked delivered;
a STOP from the network revokes texts to that number at once, on record with the message it
answers, and the next SMS is refused naming it; other replies are kept for a person to read."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import MessagesConfig, SmsConfig
from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.kannel import USERNAME, KannelSandbox, bearerbox_status
from pbx_engine.lab.sandbox.ports import free_port
from pbx_engine.lookups.provider import LineCheck, LineType
from pbx_engine.lookups.service import NumberLookups
from pbx_engine.messaging.service import MessageService
from pbx_engine.messaging.sms import KannelSmsChannel
from pbx_engine.messaging.templates import load_templates
from pbx_engine.storage import Storage
from pbx_engine.strategies.runner import RunningCampaign, StrategyRunner
from pbx_engine.web.common import MESSAGES
from pbx_engine.web.messages_api import add_message_routes
from tests.waiting import eventually

TEMPLATES = """\
[reminder.en]
sms = "{{ debtor_name }}, {{ amount_owed | money }} is due. Pay: {{ pay_link }}"

[missed.en]
sms = "We did not receive your payment on {{ reference }}."

[survey.en]
sms = "How was your call with us today? Reply 1 (poor) to 5 (very good)."

[reminder.pl]
sms = "Zażółć: {{ amount_owed | money }} do zapłaty."
"""

SENDER = "+12025550100"  # the centre's SMS number: where replies come back to
MOBILE = "+12025550142"
TOKEN = "inbound-token-for-the-gateway"
SECRET = b"k" * 32


@dataclass
class Floor:
    storage: Storage
    kannel: KannelSandbox
    messages: MessageService
    base_url: str


@pytest.fixture
async def floor(storage: Storage, tmp_path: Path) -> AsyncIterator[Floor]:
    port = free_port("127.0.0.1")
    base_url = f"http://127.0.0.1:{port}"
    async with KannelSandbox(f"{base_url}/sms/inbound", TOKEN) as kannel:
        messages = service(storage, kannel, tmp_path, base_url)
        app = web.Application()
        app[MESSAGES] = messages
        add_message_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield Floor(storage, kannel, messages, base_url)
        finally:
            await runner.cleanup()


def service(
    storage: Storage,
    kannel: KannelSandbox,
    tmp_path: Path,
    base_url: str,
    revoke_all_from: date = date(2027, 1, 31),
    lookups: NumberLookups | None = None,
) -> MessageService:
    (tmp_path / "messages.toml").write_text(TEMPLATES, encoding="utf-8")
    config = MessagesConfig(
        templates_file=tmp_path / "messages.toml",
        company="Acme Collections",
        pay_link="https://pay.acme.example/{reference}",
        compliance="plain",  # any hour: these tests run at whatever time it is
        revoke_all_from=revoke_all_from,
        survey_templates=["survey"],
    )
    gateway = SmsConfig(
        sendsms_url=kannel.sendsms_url,
        username=USERNAME,
        password=kannel.password,
        sender=SENDER,
        callback_url=base_url,
        inbound_token=TOKEN,
        timeout=5,
    )
    return MessageService(
        storage,
        config,
        load_templates(config.templates_file),
        sms=KannelSmsChannel(gateway),
        secret=SECRET,
        fallback_timezone="America/New_York",
        lookups=lookups,
    )


async def a_case(storage: Storage, reference: str = "AB-17", language: str | None = None) -> int:
    case_id, _ = await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference=reference,
        debtor_name="John Doe",
        amount_owed=Decimal("1234.50"),
        currency="USD",
        numbers=[(MOBILE, "mobile")],
        timezone="America/New_York",
    )
    await storage.pool.execute("UPDATE cases SET language = $2 WHERE id = $1", case_id, language)
    return case_id


async def status_of(storage: Storage, message_id: int) -> str:
    return await storage.pool.fetchval("SELECT status FROM messages WHERE id = $1", message_id)


async def network_got(floor: Floor, count: int) -> None:
    async def got() -> bool:
        return len(floor.kannel.sent()) >= count

    await eventually(got, what=f"the network to have {count} SMS")


async def delivered(floor: Floor, message_id: int) -> None:
    async def on_record() -> bool:
        return await status_of(floor.storage, message_id) == "delivered"

    await eventually(on_record, what="the delivery report on record")


async def test_given_a_case_with_a_mobile_when_a_reminder_goes_by_sms_then_the_network_gets_it_and_its_delivery_is_on_record(  # noqa: E501
    floor: Floor,
):
    case_id = await a_case(floor.storage)

    result = await floor.messages.send(case_id, "reminder", "sms")

    assert result.status == "sent", result.reason
    await network_got(floor, 1)
    [got] = floor.kannel.sent()
    assert (got.sender, got.to, got.coding) == (SENDER, MOBILE, "text")
    assert got.text == (
        "John Doe, $1,234.50 is due. Pay: https://pay.acme.example/AB-17\nReply STOP to opt out."
    )
    # Kannel reports the network's acknowledgement back to the engine's receipt path.
    await delivered(floor, result.message_id)
    [stored] = await floor.storage.messages.messages_of_case(case_id)
    assert (stored.parts, stored.encoding) == (1, "gsm7")
    assert stored.sent_at is not None and stored.delivered_at is not None


class LandlineLookups:
    """A look-up provider (the interface, no server) that says every number is a landline."""

    name = "test"

    async def check(self, e164: str) -> LineCheck:
        return LineCheck(e164, True, LineType.LANDLINE)


async def test_given_a_lookup_says_the_mobile_is_a_landline_then_no_sms_goes_and_it_says_why(
    floor: Floor, tmp_path: Path
):
    case_id = await a_case(floor.storage)
    lookups = NumberLookups(LandlineLookups(), floor.storage, max_age=timedelta(days=90))
    messages = service(floor.storage, floor.kannel, tmp_path, floor.base_url, lookups=lookups)

    result = await messages.send(case_id, "reminder", "sms")

    assert (result.status, result.reason) == (
        "refused",
        "a landline (by look-up): no SMS reaches it",
    )
    assert floor.kannel.sent() == []
    kind = await floor.storage.pool.fetchval(
        "SELECT kind FROM phone_numbers WHERE e164 = $1", MOBILE
    )
    assert kind == "landline"  # the case file's number corrected for the other rules too


async def test_given_a_text_outside_the_default_alphabet_then_it_goes_as_ucs2_in_the_parts_counted(
    floor: Floor,
):
    case_id = await a_case(floor.storage, language="pl")

    result = await floor.messages.send(case_id, "reminder", "sms")

    assert result.status == "sent", result.reason
    await network_got(floor, 1)
    [got] = floor.kannel.sent()
    # Over 70 UTF-16 units with the opt-out line: two parts, as counted before it went.
    assert (got.coding, got.parts) == ("ucs-2", 2)
    assert got.text.startswith("Zażółć: ")
    assert got.text.endswith("\nOdpisz STOP, aby nie otrzymywać SMS-ów.")
    [stored] = await floor.storage.messages.messages_of_case(case_id)
    assert (stored.encoding, stored.parts, stored.body) == ("ucs2", 2, got.text)


async def test_given_a_reminder_when_the_debtor_replies_stop_then_no_later_sms_goes_and_the_ledger_shows_why(  # noqa: E501
    floor: Floor,
):
    case_id = await a_case(floor.storage)
    first = await floor.messages.send(case_id, "reminder", "sms")
    await network_got(floor, 1)

    await floor.kannel.reply(MOBILE, SENDER, "Stop.")

    ledger = await eventually(
        lambda: floor.storage.consent.ledger(MOBILE), what="the opt-out in the ledger"
    )
    [entry] = ledger
    assert (entry.entry.consent.value, entry.entry.source.value) == ("revoked", "sms_reply")
    assert "sms" in {c.value for c in entry.entry.channels}
    assert (entry.case_id, entry.message_id) == (case_id, first.message_id)
    assert await status_of(floor.storage, first.message_id) == "replied"
    [reply] = await floor.storage.messages.replies_of_case(case_id)
    assert (reply.body, reply.consent, reply.address) == ("Stop.", "revoked", MOBILE)

    second = await floor.messages.send(case_id, "reminder", "sms")

    assert second.status == "refused"
    assert second.reason is not None and second.reason.startswith("revoked by sms_reply on ")
    assert len(floor.kannel.sent()) == 1


async def test_given_a_reply_that_is_no_keyword_then_it_is_kept_for_a_person_and_consent_stands(
    floor: Floor,
):
    case_id = await a_case(floor.storage)
    first = await floor.messages.send(case_id, "reminder", "sms")
    await network_got(floor, 1)

    await floor.kannel.reply(MOBILE, SENDER, "Can I pay on Friday? Stop calling me at work")

    replies = await eventually(
        lambda: floor.storage.messages.replies_of_case(case_id), what="the reply"
    )
    assert [(r.body, r.consent, r.message_id) for r in replies] == [
        ("Can I pay on Friday? Stop calling me at work", None, first.message_id)
    ]
    assert await floor.storage.consent.ledger(MOBILE) == []
    assert (await floor.messages.send(case_id, "reminder", "sms")).status == "sent"


async def test_given_the_gateway_is_gone_when_an_sms_is_asked_then_it_fails_on_record_saying_why(
    floor: Floor,
):
    case_id = await a_case(floor.storage)
    await floor.kannel.stop()

    result = await floor.messages.send(case_id, "reminder", "sms")

    assert result.status == "failed"
    assert result.reason is not None and "the SMS gateway at http://127.0.0.1:" in result.reason
    assert await status_of(floor.storage, result.message_id) == "failed"


async def test_given_a_forged_receipt_a_wrong_token_or_a_short_code_then_nothing_is_changed(
    floor: Floor,
):
    case_id = await a_case(floor.storage)
    sent = await floor.messages.send(case_id, "reminder", "sms")
    await delivered(floor, sent.message_id)
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{floor.base_url}/sms/receipt/e30.forged", params={"status": "2"}
        ) as response:
            assert response.status == 403
        inbound = {"from": MOBILE, "to": SENDER, "text": "STOP"}
        async with http.get(
            f"{floor.base_url}/sms/inbound", params={**inbound, "token": "guessed"}
        ) as response:
            assert response.status == 403
        # A reply from a short code: kept as it came, answering nothing, changing nothing.
        async with http.get(
            f"{floor.base_url}/sms/inbound",
            params={**inbound, "token": TOKEN, "from": "73822", "text": "STOP\x00\x1b[2J"},
        ) as response:
            assert response.status == 200
    [kept] = await floor.storage.pool.fetch("SELECT address, body, case_id FROM message_replies")
    assert tuple(kept) == ("73822", "STOP\ufffd\ufffd[2J", None)
    assert await status_of(floor.storage, sent.message_id) == "delivered"
    assert await floor.storage.consent.ledger(MOBILE) == []
    assert await floor.storage.messages.replies_of_case(case_id) == []


STRATEGY = """\
name = "texts first"

[[step]]
name = "day 0"
days_past_due = [0, 2]
action = "sms"
template = "reminder"

[[step]]
name = "broken promise"
last_outcome = ["broken_promise"]
action = "sms"
template = "missed"
"""


async def test_given_a_strategy_when_its_day_0_sms_gets_a_stop_then_its_next_step_is_refused_naming_the_reply(  # noqa: E501
    floor: Floor, tmp_path: Path
):
    (tmp_path / "texts.toml").write_text(STRATEGY, encoding="utf-8")
    campaign_id = await floor.storage.campaigns.upsert_campaign("texts", "progressive")
    case_id = await a_case(floor.storage)
    await floor.storage.pool.execute(
        "UPDATE cases SET campaign_id = $2, due_date = current_date WHERE id = $1",
        case_id,
        campaign_id,
    )
    campaign = RunningCampaign(
        campaign_id,
        CampaignConfig(
            name="texts", compliance="plain", strategy={"file": tmp_path / "texts.toml"}
        ),
    )
    runner = StrategyRunner(floor.storage, floor.messages, zone=ZoneInfo("UTC"))

    [day0] = await runner.run_campaign(campaign)

    assert (day0.step, day0.status) == ("day 0", "sent")
    await network_got(floor, 1)
    await floor.kannel.reply(MOBILE, SENDER, "ARRÊT")
    await eventually(lambda: floor.storage.consent.ledger(MOBILE), what="the opt-out")
    # The promise the debtor made on a call is broken: the strategy's next step is an SMS.
    await floor.storage.pool.execute(
        """INSERT INTO dispositions (case_id, code, promise_amount, promise_date, created_at)
           VALUES ($1, 'promise_to_pay', 80, $2, $3)""",
        case_id,
        datetime.now(UTC).date() - timedelta(days=1),
        datetime.now(UTC) - timedelta(days=3),
    )

    [missed] = await runner.run_campaign(campaign)

    assert (missed.step, missed.status) == ("broken promise", "refused")
    assert missed.reason is not None and missed.reason.startswith("revoked by sms_reply on ")
    assert len(floor.kannel.sent()) == 1
    assert await runner.run_campaign(campaign) == []  # refused by the ledger: not tried again


async def test_given_a_text_and_a_reply_then_the_desks_contact_history_shows_both_beside_calls(
    floor: Floor,
):
    case_id = await a_case(floor.storage)
    await floor.storage.attempts.create_attempt(
        channel_id="hist-1", dialled=MOBILE, case_id=case_id
    )
    sent = await floor.messages.send(case_id, "reminder", "sms")
    await network_got(floor, 1)
    await floor.kannel.reply(MOBILE, SENDER, "STOP")
    await eventually(lambda: floor.storage.messages.replies_of_case(case_id), what="the reply")

    dossier = await floor.storage.cases.case_file(case_id)

    assert dossier is not None
    rows = [(h["kind"], h["direction"], h["outcome"], h["text"]) for h in dossier["history"]]
    [message] = await floor.storage.messages.messages_of_case(case_id)
    assert rows == [
        ("sms", "inbound", "opted out", "STOP"),
        ("sms", "outbound", "replied", message.body),
        ("call", "outbound", "pending", None),
    ]
    assert message.id == sent.message_id


async def test_given_revoke_all_applied_now_when_the_debtor_replies_stop_then_automated_calls_stop_too(  # noqa: E501
    floor: Floor, tmp_path: Path
):
    # A centre applying the FCC's "revoke all" before its date: a STOP covers calls as well.
    messages = service(
        floor.storage, floor.kannel, tmp_path, floor.base_url, revoke_all_from=date(2026, 1, 1)
    )
    campaign_id = await floor.storage.campaigns.upsert_campaign("calls", "progressive")
    case_id = await a_case(floor.storage)
    await floor.storage.pool.execute(
        "UPDATE cases SET campaign_id = $2 WHERE id = $1", case_id, campaign_id
    )
    await messages.send(case_id, "reminder", "sms")
    await network_got(floor, 1)

    await messages.sms_reply(MOBILE, SENDER, "STOP")

    [entry] = await floor.storage.consent.ledger(MOBILE)
    assert {c.value for c in entry.entry.channels} == {"call", "sms"}
    [candidate] = await floor.storage.campaigns.campaign_candidates(
        campaign_id, now=datetime.now(UTC), limit=10
    )
    assert [(n.e164, n.calls_revoked) for n in candidate.numbers] == [(MOBILE, True)]


async def test_given_a_survey_after_a_conversation_when_the_debtor_replies_a_score_then_it_counts_for_that_agent(  # noqa: E501
    floor: Floor,
):
    campaign_id = await floor.storage.campaigns.upsert_campaign("spring", "progressive")
    agent_id = await floor.storage.agents.upsert_agent("anna", "Anna")
    case_id = await a_case(floor.storage)
    await floor.storage.attempts.create_attempt(
        channel_id="talk-1", dialled=MOBILE, case_id=case_id, campaign_id=campaign_id,
        agent_id=agent_id,
    )  # fmt: skip
    await floor.storage.pool.execute(
        "UPDATE call_attempts SET bridged_at = now() - interval '5 minutes' "
        "WHERE channel_id = 'talk-1'"
    )
    await floor.messages.send(case_id, "survey", "sms")
    await network_got(floor, 1)

    await floor.kannel.reply(MOBILE, SENDER, "4 thanks")

    async def answered():
        return await floor.messages.survey_results(datetime.now(UTC) - timedelta(days=1))

    [result] = await eventually(answered, what="the survey's answer")
    assert (result.agent, result.campaign, result.answers, result.average) == (
        "anna",
        "spring",
        1,
        4.0,
    )
    # A reply to an ordinary message is no survey answer, whatever it starts with.
    await floor.messages.send(case_id, "reminder", "sms")
    await network_got(floor, 2)
    await floor.messages.sms_reply(MOBILE, SENDER, "5")
    [result] = await answered()
    assert result.answers == 1


async def test_the_shipped_kannel_example_is_a_configuration_kannel_runs(tmp_path: Path):
    """docker/kannel.example.conf as an operator fills it in: bearerbox and smsbox start on it
    (Kannel stops at once on a key it does not know) and the carrier's link is there, trying
    to bind (the example's carrier does not exist)."""
    example = Path(__file__).parents[2] / "docker" / "kannel.example.conf"
    ports = {"13000": free_port("127.0.0.1"), "13001": free_port("127.0.0.1")}
    ports["13013"] = free_port("127.0.0.1")
    text = example.read_text(encoding="utf-8").replace("/var/spool/kannel", str(tmp_path))
    for shipped, port in ports.items():
        text = text.replace(f"= {shipped}", f"= {port}")
    conf = tmp_path / "kannel.conf"
    conf.write_text(text, encoding="utf-8")
    password = re.search(r'admin-password = "([^"]+)"', text)[1]  # type: ignore[index]
    boxes = []
    try:
        for box, listens_on in (("bearerbox", ports["13001"]), ("smsbox", ports["13013"])):
            boxes.append(
                await processes.launch(
                    [processes.require_binary(box, package="kannel"), str(conf)],
                    what=box,
                    log_file=tmp_path / f"{box}.log",
                )
            )
            # smsbox gives up at once on a bearerbox not yet listening for it.
            await processes.wait_listening(
                boxes[-1], "127.0.0.1", listens_on, what=box, timeout=20,
                log_file=tmp_path / f"{box}.log",
            )  # fmt: skip

        async def status() -> str:
            answer = await bearerbox_status(ports["13000"], password)
            return answer if "carrier[carrier]" in answer and "smsbox" in answer else ""

        page = await eventually(status, what="bearerbox's status with the carrier and smsbox")
        assert "SMPP:smpp.carrier.example:2775" in page
        assert all(box.returncode is None for box in boxes), (
            tmp_path / "bearerbox.log"
        ).read_text()
    finally:
        for box in reversed(boxes):
            await processes.end(box, "kannel", grace=2)
