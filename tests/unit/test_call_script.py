"""A campaign's call script with the case filled in."""

from pbx_engine.cases.script import fill_script

CASE = {
    "debtor_name": "Maria Lopez",
    "reference": "R-1",
    "creditor": "Acme Bank",
    "original_creditor": None,
    "amount_owed": "420.50",
    "amount_paid": "20.50",
    "currency": "USD",
    "due_date": "2026-09-30",
}


def test_given_a_script_when_filled_then_every_known_placeholder_is_replaced():
    text = fill_script(
        "{debtor_name}, {agent} for {original_creditor} ({creditor}) about {reference}: "
        "{balance} {currency} of {amount_owed}, due {due_date}.",
        CASE,
        "anna",
    )
    assert text == (
        "Maria Lopez, anna for Acme Bank (Acme Bank) about R-1: "
        "400.00 USD of 420.50, due 2026-09-30."
    )


def test_given_an_unknown_placeholder_or_no_case_when_filled_then_it_stays_visible():
    assert fill_script("Hello {debtor}, {balance}", CASE, "anna") == "Hello {debtor}, 400.00"
    assert fill_script("Hello {debtor_name}", None, "anna") == "Hello {debtor_name}"
