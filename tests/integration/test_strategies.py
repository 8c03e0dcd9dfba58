"""A campaign's contact strategy against a real PostgreSQL and a real SMTP server: a champion and
a challenger share the cases evenly and for good, each case gets its side's day-0 e-mail once,
a broken promise brings its own e-mail, a dispute stops everything, and a message refused for
the hour goes out on a later round while one refused by the consent ledger is not tried again."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import MessagesConfig, SmtpConfig
from pbx_engine.lab.sandbox.smtp import SmtpSandbox
from pbx_engine.messaging.consent import Channel, Source
from pbx_engine.messaging.email import SmtpChannel
from pbx_engine.messaging.service import MessageService
from pbx_engine.messaging.templates import load_templates
from pbx_engine.reports.service import ReportService
from pbx_engine.storage import Storage
from pbx_engine.strategies.runner import RunningCampaign, StrategyRunner
from pbx_engine.strategies.split import side_of

NEW_YORK = ZoneInfo("America/New_York")
AFTERNOON = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)  # 15:00 in New York
NIGHT = datetime(2026, 12, 3, 4, 0, tzinfo=UTC)  # 23:00 the day before
TODAY = date(2026, 12, 3)
CASES = 40

TEMPLATES = """\
[reminder.en]
email_subject = "Reminder {{ reference }}"
email_body = "{{ amount_owed | money }} is due."

[friendly.en]
email_subject = "A friendly word about {{ reference }}"
email_body = "Hello {{ debtor_name }}, {{ amount_owed | money }} is due."

[missed.en]
email_subject = "Your promise on {{ reference }}"
email_body = "We did not receive your payment."
"""


def strategy(name: str, day0_template: str) -> str:
    return f"""\
name = "{name}"

[[step]]
name = "dispute"
last_outcome = ["dispute"]
action = "stop"

[[step]]
name = "day 0"
days_past_due = [0, 2]
action = "email"
template = "{day0_template}"

[[step]]
name = "broken promise"
last_outcome = ["broken_promise"]
action = "email"
template = "missed"
"""


@pytest.fixture
async def smtp():
    async with SmtpSandbox() as server:
        yield server


async def floor(storage: Storage, smtp: SmtpSandbox, tmp_path: Path, clock=lambda: AFTERNOON):
    (tmp_path / "messages.toml").write_text(TEMPLATES)
    (tmp_path / "champion.toml").write_text(strategy("standard", "reminder"))
    (tmp_path / "challenger.toml").write_text(strategy("friendly", "friendly"))
    messages = MessageService(
        storage,
        MessagesConfig(templates_file=tmp_path / "messages.toml", compliance="us"),
        load_templates(tmp_path / "messages.toml"),
        email=SmtpChannel(
            SmtpConfig(
                host=smtp.host, port=smtp.port, sender="a@acme.example", ca_file=smtp.certificate
            )  # fmt: skip
        ),
        fallback_timezone="America/New_York",
    )
    config = CampaignConfig(
        name="spring",
        compliance="us",
        strategy={
            "file": tmp_path / "champion.toml",
            "challenger": tmp_path / "challenger.toml",
            "challenger_share": 0.5,
        },
    )
    campaign_id = await storage.campaigns.upsert_campaign("spring", "progressive")
    case_ids = []
    for index in range(CASES):
        case_id, _ = await storage.cases.upsert_case(
            creditor="Acme", reference=f"S-{index}", debtor_name=f"Debtor {index}",
            amount_owed=Decimal("80.00"), currency="USD",
            numbers=[(f"+1202555{3000 + index}", "mobile")], campaign_id=campaign_id,
            due_date=TODAY - timedelta(days=1), timezone="America/New_York",
        )  # fmt: skip
        await storage.pool.execute(
            "UPDATE cases SET email = $2 WHERE id = $1", case_id, f"debtor{index}@example.org"
        )
        case_ids.append(case_id)
    # Pages of 7: the 40 cases are read in six pages, as a large campaign's are.
    runner = StrategyRunner(storage, messages, zone=NEW_YORK, clock=clock, page_size=7)
    return runner, RunningCampaign(campaign_id, config), case_ids, messages


async def test_given_a_champion_and_a_challenger_then_each_case_gets_its_sides_email_once(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    runner, campaign, case_ids, _ = await floor(storage, smtp, tmp_path)

    first = await runner.run_campaign(campaign)

    assert sorted(r.status for r in first) == ["sent"] * CASES
    challengers = {c for c in case_ids if side_of("spring", c, 0.5) == "challenger"}
    assert 10 <= len(challengers) <= 30  # an even split of 40, give or take chance
    by_subject = {m["To"]: m["Subject"] for m in smtp.messages()}
    for index, case_id in enumerate(case_ids):
        wanted = "A friendly word about" if case_id in challengers else "Reminder"
        assert by_subject[f"debtor{index}@example.org"].startswith(wanted)
    sides = dict(await storage.pool.fetch("SELECT case_id, side FROM strategy_cases"))
    assert {c for c, side in sides.items() if side == "challenger"} == challengers

    assert await runner.run_campaign(campaign) == []  # each step once
    assert len(smtp.messages()) == CASES


async def test_given_a_broken_promise_or_a_dispute_then_the_strategy_follows_the_last_outcome(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    runner, campaign, case_ids, _ = await floor(storage, smtp, tmp_path)
    await runner.run_campaign(campaign)  # everyone's day 0
    promised, disputed = case_ids[0], case_ids[1]
    await storage.pool.execute(
        """INSERT INTO dispositions (case_id, code, promise_amount, promise_date, created_at)
           VALUES ($1, 'promise_to_pay', 80, $2, $3), ($4, 'dispute', NULL, NULL, $3)""",
        promised, TODAY - timedelta(days=1), AFTERNOON - timedelta(days=3), disputed,
    )  # fmt: skip

    later = await runner.run_campaign(campaign)

    assert [(r.case_id, r.step, r.status) for r in later] == [(promised, "broken promise", "sent")]
    assert smtp.messages()[-1]["Subject"] == "Your promise on S-0"


async def test_given_the_hour_or_the_ledger_refuses_then_only_the_hour_is_tried_again(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    now = [NIGHT]
    runner, campaign, case_ids, messages = await floor(
        storage, smtp, tmp_path, clock=lambda: now[0]
    )
    await messages.revoke(
        "debtor0@example.org", Channel.EMAIL, Source.EMAIL_REPLY, now=NIGHT - timedelta(days=1)
    )
    at_night = await runner.run_campaign(campaign)
    reasons = {r.reason for r in at_night}
    assert len(at_night) == CASES and smtp.messages() == []
    assert any(r.startswith("outside the hours") for r in reasons)

    now[0] = AFTERNOON
    afternoon = await runner.run_campaign(campaign)
    assert sorted(r.status for r in afternoon) == ["sent"] * (CASES - 1)
    assert len(smtp.messages()) == CASES - 1
    done = dict(
        await storage.pool.fetch(
            "SELECT step, count(*) FROM strategy_steps WHERE outcome = 'refused' GROUP BY step"
        )
    )
    assert done == {"day 0": 1}  # debtor 0's opt-out: on record, never tried again
    assert await runner.run_campaign(campaign) == []


async def test_given_outcomes_on_both_sides_then_the_report_compares_them_case_for_case(
    storage: Storage, smtp: SmtpSandbox, tmp_path
):
    runner, campaign, case_ids, _ = await floor(storage, smtp, tmp_path)
    await runner.run_campaign(campaign)
    sides = dict(await storage.pool.fetch("SELECT case_id, side FROM strategy_cases"))
    challengers = [c for c in case_ids if sides[c] == "challenger"]
    champions = [c for c in case_ids if sides[c] == "champion"]
    # Every challenger promises and pays 80; no champion does.
    for case_id in challengers:
        await storage.pool.execute(
            """INSERT INTO dispositions (case_id, code, promise_amount, promise_date)
               VALUES ($1, 'promise_to_pay', 80, current_date + 1)""",
            case_id,
        )
        await storage.cases.record_payment(case_id, Decimal("80"), date.today(), None)

    report = {c.what: c for c in await ReportService(storage, NEW_YORK).split_report(
        campaign.campaign_id, "spring")}  # fmt: skip

    promises = report["promises"]
    assert (promises.champion_cases, promises.challenger_cases) == (
        len(champions),
        len(challengers),
    )
    assert (promises.champion, promises.challenger) == (0.0, 1.0)
    assert promises.settled and "the challenger does better" in promises.sentence()
    assert report["kept promises"].challenger == 1.0
    assert report["collected per case"].challenger == 80.0
    assert report["messages per case"].champion == report["messages per case"].challenger == 1.0
    assert not report["contact rate"].settled  # no calls on either side
