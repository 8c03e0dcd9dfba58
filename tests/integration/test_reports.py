"""Reports from PostgreSQL: a day of calls on record, summed per campaign and per agent (contact
rate, right-party contacts, promises and kept promises, abandon rate, handle time), and the CSV
the HTTP API exports."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import aiohttp

from pbx_engine.reports.figures import occupancy, report
from pbx_engine.storage import Storage

DAY = date(2026, 11, 30)
T0 = datetime(2026, 11, 30, 10, tzinfo=UTC)


async def _call(
    storage: Storage,
    channel_id: str,
    campaign_id: int,
    case_id: int,
    agent_id: int | None,
    *,
    talk: float | None = None,
    wrap: float | None = None,
    abandoned: bool = False,
    offset: int = 0,
) -> None:
    start = T0 + timedelta(minutes=offset)
    await storage.attempts.create_attempt(
        channel_id=channel_id,
        dialled="+12025550100",
        case_id=case_id,
        campaign_id=campaign_id,
        agent_id=agent_id,
    )
    bridged = start + timedelta(seconds=5) if talk is not None else None
    ended = bridged + timedelta(seconds=talk) if bridged else start + timedelta(seconds=20)
    await storage.pool.execute(
        "UPDATE call_attempts SET created_at = $2, bridged_at = $3, ended_at = $4, "
        "abandoned = $5, outcome = $6 WHERE channel_id = $1",
        channel_id,
        start,
        bridged,
        ended,
        abandoned,
        "human" if talk is not None else ("abandoned" if abandoned else "no_answer"),
    )
    if agent_id is not None and talk is not None:
        await storage.agents.record_agent_state(agent_id, "on_call", bridged, channel_id=channel_id)
        await storage.agents.record_agent_state(agent_id, "wrap_up", ended, channel_id=channel_id)
        if wrap is not None:
            await storage.agents.record_agent_state(
                agent_id, "ready", ended + timedelta(seconds=wrap)
            )


async def _disposition(storage: Storage, channel_id: str, agent_id: int, code: str, **promise):
    await storage.pool.execute(
        """INSERT INTO dispositions (attempt_id, case_id, agent_id, code, promise_amount,
                                     promise_date, created_at)
           SELECT id, case_id, $2, $3, $4, $5, created_at FROM call_attempts
           WHERE channel_id = $1""",
        channel_id,
        agent_id,
        code,
        promise.get("amount"),
        promise.get("date"),
    )


async def _a_day_of_calls(storage: Storage) -> None:
    anna = await storage.agents.upsert_agent("anna", "Anna")
    piotr = await storage.agents.upsert_agent("piotr", "Piotr")
    early = await storage.campaigns.upsert_campaign("early", "progressive")
    case_a, _ = await storage.cases.upsert_case(
        creditor="Acme",
        reference="R-A",
        debtor_name="A",
        amount_owed=Decimal("500"),
        currency="USD",
        numbers=[("+12025550100", "mobile")],
        campaign_id=early,
    )
    case_b, _ = await storage.cases.upsert_case(
        creditor="Acme",
        reference="R-B",
        debtor_name="B",
        amount_owed=Decimal("80"),
        currency="USD",
        numbers=[("+12025550101", "mobile")],
        campaign_id=early,
    )
    await _call(storage, "a1", early, case_a, anna, talk=100, wrap=20)
    await _disposition(storage, "a1", anna, "promise_to_pay", amount=Decimal("100"), date=DAY)
    await storage.cases.record_payment(case_a, Decimal("60"), DAY + timedelta(days=1))
    await storage.cases.record_payment(case_a, Decimal("40"), DAY + timedelta(days=3))  # in grace
    await _call(storage, "a2", early, case_a, anna, talk=50, offset=5)
    await _disposition(storage, "a2", anna, "wrong_party")
    await _call(storage, "a3", early, case_b, None, offset=10)  # nobody answered
    await _call(storage, "a4", early, case_b, None, abandoned=True, offset=15)
    await _call(storage, "a5", early, case_b, piotr, talk=30, wrap=0, offset=20)
    await _disposition(storage, "a5", piotr, "right_party")  # saved first, then the promise
    await _disposition(storage, "a5", piotr, "promise_to_pay", amount=Decimal("50"), date=DAY)
    await storage.cases.record_payment(case_b, Decimal("50"), DAY + timedelta(days=4))  # too late


async def test_given_a_day_of_calls_when_reported_then_each_figure_is_right(storage: Storage):
    await _a_day_of_calls(storage)
    sums = await storage.reports.daily_figures(DAY, DAY)
    [campaign] = report(sums, "campaign")
    assert (campaign.day, campaign.by, campaign.attempts, campaign.contacts) == (DAY, "early", 5, 3)
    assert campaign.contact_rate == 0.6
    assert campaign.right_party == 2  # the wrong party is no right-party contact
    assert (campaign.promises, campaign.promised, campaign.kept) == (2, Decimal("150.00"), 1)
    assert campaign.abandon_rate == 0.25  # 1 abandoned of 4 live
    assert campaign.average_handle_seconds == round((120 + 50 + 30) / 3, 1)
    anna, piotr = report(sums, "agent")
    assert (anna.by, anna.attempts, anna.contacts, anna.right_party, anna.kept) == (
        "anna",
        2,
        2,
        1,
        1,
    )
    assert anna.average_handle_seconds == 85.0  # (100 + 20 wrap-up, 50 with none on record)
    assert (piotr.promises, piotr.kept) == (1, 0)
    assert (
        await storage.reports.daily_figures(DAY + timedelta(days=1), DAY + timedelta(days=2)) == []
    )


async def test_given_a_centre_east_of_utc_when_reported_then_a_late_call_is_on_its_next_day(
    storage: Storage,
):
    await _a_day_of_calls(storage)
    await storage.pool.execute(
        "UPDATE call_attempts SET created_at = $2 WHERE channel_id = $1",
        "a3",
        datetime(2026, 11, 30, 23, 30, tzinfo=UTC),  # 00:30 on 1 December in Warsaw
    )
    warsaw = report(
        await storage.reports.daily_figures(DAY, DAY + timedelta(days=1), zone="Europe/Warsaw"),
        "campaign",
    )
    assert [(r.day, r.attempts) for r in warsaw] == [(DAY, 4), (DAY + timedelta(days=1), 1)]
    [utc] = report(await storage.reports.daily_figures(DAY, DAY), "campaign")
    assert utc.attempts == 5


async def test_given_calls_on_record_when_exporting_csv_then_supervisors_get_every_campaign(
    api, connected_engine
):
    storage = connected_engine.storage
    await storage.agents.upsert_agent("rita", "Rita", role="supervisor")
    await storage.agents.upsert_agent("ivan", "Ivan")
    headers = {"Authorization": f"Bearer {await storage.issue_agent_token('rita')}"}
    agent = {"Authorization": f"Bearer {await storage.issue_agent_token('ivan')}"}
    today = datetime.now(UTC).date().isoformat()
    async with aiohttp.ClientSession() as http:
        query = f"{api}/reports/daily?per=campaign&from={today}&to={today}"
        async with http.get(f"{query}&format=csv", headers=headers) as response:
            assert response.status == 200
            assert response.content_type == "text/csv"
            lines = (await response.text()).splitlines()
        assert lines[0].startswith("day,campaign,attempts,contacts,contact_rate")
        async with http.get(query, headers=agent) as response:
            assert response.status == 403  # agents see their own rows only
        async with http.get(query.replace("campaign", "agent"), headers=agent) as response:
            assert response.status == 200
            assert all(row["by"] == "ivan" for row in (await response.json())["rows"])
        async with http.get(f"{api}/reports/daily?from=2026-13-01", headers=headers) as response:
            assert response.status == 422

        # Payments come from the creditor, through a supervisor (or an admin's script).
        case_id, _ = await storage.cases.upsert_case(
            creditor="Acme",
            reference="PAY-1",
            debtor_name="Payer",
            amount_owed=Decimal("90"),
            currency="USD",
            numbers=[("+12025550188", "mobile")],
        )
        payment = {"amount": "30.00", "paid_on": today, "reference": "bank-77"}
        url = f"{api}/cases/{case_id}/payments"
        async with http.post(url, json=payment, headers=agent) as response:
            assert response.status == 403
        async with http.post(url, json={**payment, "amount": "-1"}, headers=headers) as response:
            assert response.status == 422
        async with http.post(f"{api}/cases/0/payments", json=payment, headers=headers) as r:
            assert r.status == 404
        async with http.post(url, json=payment, headers=headers) as response:
            assert response.status == 201
    assert (await storage.cases.case_file(case_id))["amount_paid"] == "30.00"


async def test_given_a_shift_begun_before_midnight_when_occupancy_is_read_then_it_counts_from_it(
    storage: Storage,
):
    night = await storage.agents.upsert_agent("nina", "Nina")
    midnight = datetime(2026, 12, 1, tzinfo=UTC)
    await storage.agents.record_agent_state(night, "ready", midnight - timedelta(hours=2))
    await storage.agents.record_agent_state(night, "on_call", midnight - timedelta(minutes=10))
    await storage.agents.record_agent_state(night, "wrap_up", midnight + timedelta(minutes=30))
    await storage.agents.record_agent_state(night, "ready", midnight + timedelta(minutes=31))
    rows = [
        (r.state, r.at)
        for r in await storage.reports.agent_state_changes_since(midnight)
        if r.agent_id == night
    ]
    # On a call across midnight: today he has been busy since midnight, not since 00:30.
    assert rows[0] == ("on_call", midnight)
    assert [state for state, _ in rows] == ["on_call", "wrap_up", "ready"]
    changes = [(night, state, at) for state, at in rows]
    assert occupancy(changes, midnight + timedelta(minutes=41)) == round(31 / 41, 4)
