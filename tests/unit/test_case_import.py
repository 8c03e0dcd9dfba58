"""Reading creditors' case files: every bad row named with its line and reason."""

import io
from datetime import date
from decimal import Decimal

import pytest

from pbx_engine.cases.importer import FileError, PhoneEntry, parse_cases

HEADER = "reference,debtor_name,amount_owed,currency,creditor,phones,due_date,owner_agent,timezone"


def parse(body: str, header: str = HEADER, **kwargs):
    return parse_cases(io.StringIO(f"{header}\n{body}"), "PL", **kwargs)


def test_given_a_good_row_when_parsed_then_every_field_is_typed_and_numbers_are_e164():
    batch = parse(
        'K-1,Jan Kowalski,"1 234,50",pln,Acme,mobile:600 100 200;22 123 45 67,'
        "2026-10-01,anna,Europe/Warsaw\n"
    )
    assert batch.errors == []
    [row] = batch.rows
    assert row.line == 2
    assert row.amount_owed == Decimal("1234.50")
    assert row.currency == "PLN"
    assert row.due_date == date(2026, 10, 1)
    assert row.owner_agent == "anna"
    assert row.phones == (
        PhoneEntry("+48600100200", "mobile"),
        PhoneEntry("+48221234567", "landline"),
    )


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("K-2,Jan,10,PLN,Acme,12,,,", "not a possible phone number"),
        ("K-2,Jan,10,PLN,Acme,,,,", "no phone number"),
        ("K-2,Jan,ten,PLN,Acme,600100200,,,", "amount_owed 'ten' is not a number"),
        ("K-2,Jan,-5,PLN,Acme,600100200,,,", "must be zero or more"),
        ("K-2,Jan,1.005,PLN,Acme,600100200,,,", "more than two decimals"),
        ("K-2,Jan,10,ZLOTY,Acme,600100200,,,", "three-letter ISO code"),
        ("K-2,Jan,10,PLN,Acme,600100200,01/10/2026,,", "is not a date (YYYY-MM-DD)"),
        ("K-2,Jan,10,PLN,Acme,600100200,,,Mars/Base", "not an IANA time zone"),
        ("K-2,Jan,10,PLN,Acme,fax:600100200,,,", "phone type 'fax'"),
        (",Jan,10,PLN,Acme,600100200,,,", "reference is empty"),
        ("K-2,Jan,10,PLN,,600100200,,,", "creditor is empty"),
        ("K-2,Jan,10,PLN,Acme,600100200,,,,extra", "more fields than the header"),
    ],
)
def test_given_a_bad_row_when_parsed_then_it_is_reported_with_its_line_and_left_out(row, reason):
    batch = parse(f"K-1,Anna,5,PLN,Acme,600100201,,,\n{row}\nK-3,Ewa,7,PLN,Acme,600100203,,,\n")
    assert [r.reference for r in batch.rows] == ["K-1", "K-3"]
    [error] = batch.errors
    assert error.line == 3
    assert reason in error.reason
    assert str(error).startswith("line 3: ")


def test_given_a_case_twice_when_parsed_then_the_first_is_kept_and_the_second_reported():
    batch = parse("K-1,Anna,5,PLN,Acme,600100201,,,\nK-1,Anna B,6,PLN,Acme,600100202,,,\n")
    assert [r.debtor_name for r in batch.rows] == ["Anna"]
    assert "line 2 already" in batch.errors[0].reason


def test_given_the_same_reference_at_two_creditors_when_parsed_then_both_are_cases():
    batch = parse("K-1,Anna,5,PLN,Acme,600100201,,,\nK-1,Piotr,6,PLN,Globex,600100202,,,\n")
    assert len(batch.rows) == 2 and batch.errors == []


def test_given_phone_columns_and_a_default_creditor_when_parsed_then_both_are_used():
    batch = parse(
        "K-1,Anna,5,EUR,+48 600 100 201,+48 22 123 45 67\n",
        header="reference,debtor_name,amount_owed,currency,mobile,work",
        creditor="Acme",
    )
    [row] = batch.rows
    assert row.creditor == "Acme"
    assert row.phones == (PhoneEntry("+48600100201", "mobile"), PhoneEntry("+48221234567", "work"))


def test_given_blank_lines_when_parsed_then_they_are_skipped_quietly():
    batch = parse("K-1,Anna,5,PLN,Acme,600100201,,,\n,,,,,,,,\n\n")
    assert len(batch.rows) == 1 and batch.errors == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs a header row"),
        ("reference,debtor_name,amount_owed,currency,phonez\n", "unknown column(s) 'phonez'"),
        ("reference,debtor_name,currency,phones\n", "missing column(s): amount_owed"),
    ],
)
def test_given_a_broken_header_when_parsed_then_the_whole_file_is_refused(text, message):
    with pytest.raises(FileError) as caught:
        parse_cases(io.StringIO(text), "PL")
    assert message in str(caught.value)


MESSAGING = "reference,debtor_name,amount_owed,currency,creditor,phones,email,language"


@pytest.mark.parametrize(
    ("email", "language", "stored"),
    [
        ("Jan@Example.ORG", "fr", ("jan@example.org", "fr")),
        ("", "pt-br", (None, "pt_BR")),
        ("a.b@c.pl", "PL", ("a.b@c.pl", "pl")),
    ],
)
def test_given_an_email_and_a_language_when_parsed_then_they_are_kept_as_messages_use_them(
    email, language, stored
):
    batch = parse(f"R1,Jan,10,EUR,Acme,+48601234567,{email},{language}\n", header=MESSAGING)
    assert batch.errors == []
    assert (batch.rows[0].email, batch.rows[0].language) == stored


@pytest.mark.parametrize(
    ("email", "language", "reason"),
    [
        ("jan.example.org", "fr", "email 'jan.example.org' is not an e-mail address"),
        ("jan@example", "fr", "email 'jan@example' is not an e-mail address"),
        ("jan@example.org", "french", "language 'french' is not a language code"),
    ],
)
def test_given_a_bad_email_or_language_when_parsed_then_the_row_says_which(email, language, reason):
    batch = parse(f"R1,Jan,10,EUR,Acme,+48601234567,{email},{language}\n", header=MESSAGING)
    assert batch.rows == []
    assert reason in str(batch.errors[0])
