"""Reading a debtor's e-mail reply: who, what it answers, and his own words without the quote."""

from datetime import UTC, datetime
from email import message_from_string
from email.policy import default

import pytest

from pbx_engine.messaging.consent import Consent, reply_consent
from pbx_engine.messaging.email_replies import own_words, read_reply


def message(body: str, **headers: str):
    lines = {
        "From": "Jan Kowalski <Jan.Kowalski@Example.org>",
        "To": "collections@acme.example",
        "Subject": "Re: Your account",
        "Date": "Thu, 03 Dec 2026 10:15:00 +0100",
        "Content-Type": 'text/plain; charset="utf-8"',
        **headers,
    }
    text = "".join(f"{k}: {v}\n" for k, v in lines.items() if v) + "\n" + body
    return message_from_string(text, policy=default)


def test_given_a_reply_then_its_sender_what_it_answers_and_its_time_are_read():
    reply = read_reply(
        message(
            "STOP\n",
            **{
                "In-Reply-To": "<m2.1@acme.example>",
                "References": "<m1.0@acme.example> <m2.1@acme.example>",
            },
        )
    )
    assert reply.sender == "jan.kowalski@example.org"
    assert reply.recipient == "collections@acme.example"
    assert reply.answers == ("<m2.1@acme.example>", "<m1.0@acme.example>")
    assert reply.text == "STOP"
    assert reply.received_at == datetime(2026, 12, 3, 9, 15, tzinfo=UTC)
    assert not reply.auto
    assert reply_consent(reply.text) is Consent.REVOKED


@pytest.mark.parametrize(
    "quote",
    [
        "On Tue, 1 Dec 2026 at 09:00, Acme Collections <collections@acme.example> wrote:\n> Dear",
        "Le mar. 1 déc. 2026 à 09:00, Acme <collections@acme.example> a écrit :\n> Bonjour",
        "Am 01.12.2026 um 09:00 schrieb Acme <collections@acme.example>:\n> Guten Tag",
        "W dniu 1.12.2026 o 09:00 Acme <collections@acme.example> napisał:\n> Dzień dobry",
        "El mar, 1 dic 2026 a las 9:00, Acme escribió:\n> Estimado",
        "-----Original Message-----\nFrom: Acme\nSent: Tuesday",
        "________________________________\nFrom: Acme Collections\nSent: Tuesday",
        "> Dear Mr Kowalski,\n> your balance is $99.",
        "-- \nJan Kowalski\nSent from my phone",
    ],
)
def test_the_quoted_original_and_the_signature_are_left_out(quote):
    assert own_words(f"Unsubscribe\n\n{quote}\n") == "Unsubscribe"


def test_words_below_a_blank_line_are_his_own_too():
    assert own_words("I will pay on Friday.\n\nThanks,\nJan\n") == (
        "I will pay on Friday.\n\nThanks,\nJan"
    )


def test_given_an_html_only_reply_then_its_text_is_read_without_the_quoted_part():
    html = (
        "<html><head><style>p {color: red}</style></head><body><div>Stop</div>"
        "<blockquote>Dear Mr Kowalski, your balance is $99.</blockquote></body></html>"
    )
    reply = read_reply(message(html, **{"Content-Type": 'text/html; charset="utf-8"'}))
    assert reply.text == "Stop"
    assert reply_consent(reply.text) is Consent.REVOKED


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "auto_reply"},
        {"X-Autoreply": "yes"},
    ],
)
def test_an_auto_reply_is_known_as_such(headers):
    assert read_reply(message("I am out of the office until Monday.", **headers)).auto


def test_given_no_sender_no_reference_and_no_date_then_it_is_still_read():
    reply = read_reply(message("hello", From="", Date="not a date"))
    assert (reply.sender, reply.answers, reply.received_at) == ("", (), None)
    assert reply.text == "hello"


def test_an_undecodable_body_is_read_with_what_can_be_read():
    broken = message(
        "caf\udce9",
        **{"Content-Type": 'text/plain; charset="x-unknown"'},
    )
    assert read_reply(broken).text.startswith("caf")


def test_a_very_long_reply_is_cut():
    assert len(own_words("x" * 10_000)) == 4000
