"""Operators' message templates: checked when loaded (file, template, line), filled from the
case in the debtor's language, and always ending with the opt-out line."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from pbx_engine.config import ConfigError
from pbx_engine.messaging.sms_text import SmsEncoding
from pbx_engine.messaging.templates import MessageContext, load_templates

GOOD = """\
[reminder.en]
sms = "{{ debtor_name }}, {{ amount_owed | money }} to {{ creditor }} is due {{ due_date | day }}. Pay: {{ pay_link }}"
email_subject = "Your account {{ reference }}"
email_body = '''
Dear {{ debtor_name }},

{{ amount_owed | money }} is due on {{ due_date | day }}.
{% if pay_link %}Pay here: {{ pay_link }}{% endif %}
{{ company }}'''

[reminder.fr]
sms = "{{ debtor_name }}, {{ amount_owed | money }} à régler avant le {{ due_date | day }} : {{ pay_link }}"

[reminder.de]
sms = "{{ debtor_name }}, bitte zahlen Sie {{ amount_owed | money }}."

[opt_out.de]
sms = "Antworten Sie STOP, um keine SMS mehr zu erhalten."
email = "Keine E-Mails mehr: antworten Sie STOP oder öffnen Sie {link}"
"""  # noqa: E501

CASE = MessageContext(
    debtor_name="Jan Kowalski",
    creditor="Acme Bank",
    reference="A-1",
    amount_owed=Decimal("1234.5"),
    currency="EUR",
    due_date=date(2026, 12, 24),
    pay_link="https://pay.example/p/abc",
    company="Recouvra SA",
    callback_number="+33100000000",
    unsubscribe_link="https://pay.example/u/abc",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "messages.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_given_good_templates_then_an_sms_is_filled_in_the_debtors_language_with_the_opt_out(
    tmp_path,
):
    templates = load_templates(write(tmp_path, GOOD))
    english = templates.render("reminder", "sms", "en", CASE)
    assert english.body == (
        "Jan Kowalski, €1,234.50 to Acme Bank is due December 24, 2026. "
        "Pay: https://pay.example/p/abc\nReply STOP to opt out."
    )
    french = templates.render("reminder", "sms", "fr", CASE)
    # Babel's no-break spaces are made plain: GSM-7, one part, not UCS-2 and two.
    assert french.body.startswith("Jan Kowalski, 1 234,50 € à régler avant le 24 décembre 2026")
    assert french.body.endswith("Répondez STOP pour ne plus recevoir nos SMS.")
    assert (french.sms_length.encoding, french.sms_length.parts) == (SmsEncoding.GSM7, 1)
    german = templates.render("reminder", "sms", "de", CASE)
    assert german.body.endswith("Antworten Sie STOP, um keine SMS mehr zu erhalten.")


def test_given_an_email_template_then_subject_and_body_are_filled_and_the_opt_out_has_the_link(
    tmp_path,
):
    email = load_templates(write(tmp_path, GOOD)).render("reminder", "email", "en", CASE)
    assert email.subject == "Your account A-1"
    assert "Pay here: https://pay.example/p/abc\nRecouvra SA" in email.body
    assert email.body.endswith(
        "-- \nTo stop e-mails from us, reply STOP or open https://pay.example/u/abc\n"
    )


def test_given_a_template_that_says_stop_nowhere_then_the_opt_out_is_added_all_the_same(tmp_path):
    templates = load_templates(write(tmp_path, '[bare.en]\nsms = "Call {{ callback_number }}"\n'))
    assert templates.render("bare", "sms", "en", CASE).body == (
        "Call +33100000000\nReply STOP to opt out."
    )


def test_given_what_templates_offer_then_channels_and_languages_are_listed(tmp_path):
    templates = load_templates(write(tmp_path, GOOD))
    assert templates.names() == ["reminder"]
    assert templates.languages("reminder") == ["de", "en", "fr"]
    assert templates.channels("reminder", "en") == ["sms", "email"]
    assert templates.has("reminder", "sms", "fr")
    assert not templates.has("reminder", "email", "fr")
    assert not templates.has("dunning", "sms", "en")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '[a.en]\nsms = "Hi {{ first_name }}"\n',
            "a.en.sms (line 2): {{ first_name }} is not a field",
        ),
        (
            '[a.en]\nsms = "{{ amount_owed | moneyy }}"\n',
            "a.en.sms (line 2): no filter named 'moneyy'",
        ),
        (
            "[a.en]\nemail_subject = \"x\"\nemail_body = '''\nline one\n{% if %}'''\n",
            "a.en.email_body (line 5): template syntax",
        ),
        ('[a.en]\nsmss = "x"\n', "a.en.smss (line 2): unknown key (a typo?)"),
        ('[a.en]\nemail_subject = "x"\n', "a.en (line 1): an e-mail needs both"),
        ('[a.xx]\nsms = "x"\n', "a.xx (line 1): 'xx' is not a language Babel knows"),
        ('[a.de]\nsms = "x"\n', "a.de (line 1): no opt-out wording for 'de'"),
        (
            '[opt_out.de]\nsms = "Nicht mehr"\nemail = "x {link}"\n',
            "opt_out.de.sms (line 2): must name the STOP keyword",
        ),
        ("[a.en]\n", "a.en (line 1): empty"),
    ],
)
def test_given_a_bad_template_then_loading_fails_naming_the_template_and_its_line(
    tmp_path, text, problem
):
    with pytest.raises(ConfigError) as raised:
        load_templates(write(tmp_path, text))
    assert problem in str(raised.value)
    assert str(tmp_path / "messages.toml") in str(raised.value)


def test_given_a_template_that_reaches_for_internals_then_the_sandbox_refuses(tmp_path):
    text = '[a.en]\nsms = "{{ debtor_name.__class__.__mro__ }}"\n'
    templates = load_templates(write(tmp_path, text))
    with pytest.raises(Exception, match="unsafe|not safely|attribute"):
        templates.render("a", "sms", "en", CASE)
