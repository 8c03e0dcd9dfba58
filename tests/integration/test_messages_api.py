"""Messages and the consent ledger through the running engine's HTTP API: a supervisor's ask is
on record whatever becomes of it, a written opt-out is entered and exported as evidence, and an
e-mail's unsubscribe link works for anyone who holds it (and for nobody with a forged one)."""

from decimal import Decimal

import aiohttp

from pbx_engine.engine import Engine
from pbx_engine.messaging.unsubscribe import make_unsubscribe_token


async def token_for(engine: Engine, login: str, role: str) -> dict:
    await engine.storage.agents.upsert_agent(login, login.title(), role=role)
    return {"Authorization": f"Bearer {await engine.storage.issue_agent_token(login)}"}


async def a_case(engine: Engine, reference: str, email: str | None) -> int:
    case_id, _ = await engine.storage.cases.upsert_case(
        creditor="Acme Bank",
        reference=reference,
        debtor_name="John Doe",
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[("+12025550177", "mobile")],
    )
    await engine.storage.pool.execute("UPDATE cases SET email = $2 WHERE id = $1", case_id, email)
    return case_id


async def test_given_a_supervisor_when_he_asks_for_messages_then_each_is_on_record_with_why(
    api, connected_engine
):
    headers = await token_for(connected_engine, "mila", "supervisor")
    without_email = await a_case(connected_engine, "MSG-1", None)
    with_email = await a_case(connected_engine, "MSG-2", "john@example.org")
    async with aiohttp.ClientSession(headers=headers) as http:
        ask = {"template": "reminder", "channel": "email"}
        async with http.post(f"{api}/cases/{without_email}/messages", json=ask) as response:
            assert response.status == 201
            assert (await response.json())["reason"] == "the case has no e-mail address"
        async with http.post(f"{api}/cases/{with_email}/messages", json=ask) as response:
            answer = await response.json()
        # The shared engine has no templates: refused, saying so, never sent half-made.
        assert (answer["status"], answer["reason"]) == (
            "refused",
            "no message templates are configured ([messages] templates_file)",
        )
        async with http.get(f"{api}/cases/{with_email}/messages") as response:
            [kept] = await response.json()
        assert (kept["id"], kept["status"], kept["address"]) == (
            answer["message_id"],
            "refused",
            "john@example.org",
        )
        async with http.post(f"{api}/cases/999999/messages", json=ask) as response:
            assert response.status == 404
        async with http.post(
            f"{api}/cases/{with_email}/messages", json={"template": "../x", "channel": "fax"}
        ) as response:
            assert response.status == 422


async def test_given_a_written_request_when_a_supervisor_enters_it_then_the_ledger_shows_it(
    api, connected_engine
):
    supervisor = await token_for(connected_engine, "mila", "supervisor")
    agent = await token_for(connected_engine, "piotr", "agent")
    case_id = await a_case(connected_engine, "MSG-3", None)
    entry = {
        "address": "+12025550177",
        "channels": ["call", "sms"],
        "consent": "revoked",
        "note": "letter received 1 December",
        "case_id": case_id,
    }
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/consent", json=entry, headers=agent) as response:
            assert response.status == 403
        async with http.post(f"{api}/consent", json=entry, headers=supervisor) as response:
            assert response.status == 201
        async with http.post(
            f"{api}/consent", json={**entry, "address": "12025550177"}, headers=supervisor
        ) as response:
            assert response.status == 422
        async with http.get(
            f"{api}/consent", params={"address": "+12025550177"}, headers=supervisor
        ) as response:
            ledger = await response.json()
    [evidence] = [e for e in ledger if e["note"] == "letter received 1 December"]
    assert evidence["channels"] == ["call", "sms"]
    assert (evidence["source"], evidence["entered_by"], evidence["case_id"]) == (
        "supervisor",
        "mila",
        case_id,
    )


async def test_given_an_unsubscribe_link_when_it_is_opened_and_confirmed_then_emails_stop(
    api, connected_engine
):
    case_id = await a_case(connected_engine, "MSG-4", "jane@example.org")
    token = make_unsubscribe_token(case_id, "jane@example.org", connected_engine.invitation_secret)
    async with aiohttp.ClientSession() as http:  # no credentials: the link is the permission
        async with http.get(f"{api}/unsubscribe/{token}") as response:
            assert response.status == 200
            assert "jane@example.org" in await response.text()
        # A mail program's one-click opt-out (RFC 8058).
        async with http.post(
            f"{api}/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}
        ) as response:
            assert response.status == 200
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        async with http.post(f"{api}/unsubscribe/{forged}") as response:
            assert response.status == 403
    records = await connected_engine.storage.consent.ledger("jane@example.org")
    assert [(r.entry.source.value, r.case_id) for r in records] == [("unsubscribe_link", case_id)]
    result = await connected_engine.messages.send(case_id, "reminder", "email")
    assert result.status == "refused"
    assert result.reason.startswith("revoked by unsubscribe_link on ")


async def test_given_a_consent_entry_for_no_such_case_then_404_and_nothing_kept(
    api, connected_engine
):
    supervisor = await token_for(connected_engine, "mila", "supervisor")
    entry = {"address": "x@example.org", "channels": ["email"], "consent": "revoked"}
    async with aiohttp.ClientSession(headers=supervisor) as http:
        async with http.post(f"{api}/consent", json={**entry, "case_id": 987654321}) as response:
            assert response.status == 404
    assert await connected_engine.storage.consent.ledger("x@example.org") == []
