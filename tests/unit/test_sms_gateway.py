"""The SMS gateway's pure parts: the sendsms request, what a delivery report means for the
message on record, the signed receipt path, the inbound token and the [sms] section."""

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from pbx_engine.config import ConfigError, SmsConfig, parse_config
from pbx_engine.messaging.sms import (
    ALL_RECEIPTS,
    KannelSmsChannel,
    OutgoingSms,
    Receipt,
    make_receipt_token,
    read_receipt_token,
    receipt_outcome,
    sendsms_query,
)
from pbx_engine.messaging.sms_text import SmsEncoding
from pbx_engine.messaging.unsubscribe import make_unsubscribe_token

SECRET = b"r" * 32
MINIMAL = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine", "password": "pw"}}
GATEWAY = {
    "sendsms_url": "http://127.0.0.1:13013/cgi-bin/sendsms",
    "username": "engine",
    "password": "a long gateway password",
    "sender": "+12025550100",
    "callback_url": "http://10.0.0.5:8080/",
    "inbound_token": "the token the reply URL carries",
}


def config(**changes) -> SmsConfig:
    return SmsConfig.model_validate({**GATEWAY, **changes})


def test_given_a_gsm7_message_then_the_request_asks_for_the_default_alphabet_and_every_report():
    sms = OutgoingSms("+12025550142", "Hi\nReply STOP", SmsEncoding.GSM7, "http://e/sms/receipt/t")
    query = sendsms_query(config(), sms)
    assert query["coding"] == "0" and query["charset"] == "UTF-8"
    assert (query["from"], query["to"], query["text"]) == ("+12025550100", sms.to, sms.text)
    assert query["dlr-mask"] == "31"
    # Kannel fills in %d and %A when it calls back.
    assert query["dlr-url"] == "http://e/sms/receipt/t?status=%d&answer=%A"


def test_given_a_ucs2_message_then_the_request_asks_for_ucs2():
    sms = OutgoingSms("+48601000000", "Zażółć", SmsEncoding.UCS2, "http://e/r")
    assert sendsms_query(config(), sms)["coding"] == "2"


@pytest.mark.parametrize(
    ("report", "status", "error"),
    [
        (Receipt.DELIVERED, "delivered", None),
        (Receipt.UNDELIVERABLE, "failed", "the network could not deliver it (absent)"),
        (Receipt.REJECTED, "failed", "the carrier refused it (absent)"),
        (Receipt.ACCEPTED, None, None),
        (Receipt.BUFFERED, None, None),
        (64, None, None),  # a type Kannel may add one day: nothing to change
    ],
)
def test_given_each_delivery_report_then_the_message_on_record_changes_as_it_says(
    report, status, error
):
    outcome = receipt_outcome(int(report), " absent ")
    assert (outcome.status, outcome.error) == (status, error)


def test_given_no_words_from_the_carrier_then_a_failure_says_none():
    assert receipt_outcome(2).error == "the network could not deliver it"


def test_every_report_type_is_asked_for():
    assert int(ALL_RECEIPTS) == 31


@given(st.integers(min_value=1, max_value=2**53))
def test_given_a_receipt_token_then_it_reads_back_its_message(message_id):
    assert read_receipt_token(make_receipt_token(message_id, SECRET), SECRET) == message_id


def test_given_a_token_made_for_another_purpose_or_secret_then_it_names_no_message():
    assert read_receipt_token(make_unsubscribe_token(7, "+12025550142", SECRET), SECRET) is None
    assert read_receipt_token(make_receipt_token(7, b"x" * 32), SECRET) is None
    assert read_receipt_token("e30.forged", SECRET) is None
    assert read_receipt_token("not a token", SECRET) is None


@given(st.text(max_size=80))
def test_given_anything_as_a_receipt_path_then_it_never_raises(token):
    read_receipt_token(token, SECRET)


def test_given_the_inbound_token_then_only_it_is_accepted():
    channel = KannelSmsChannel(config())
    assert channel.accepts_inbound("the token the reply URL carries")
    assert not channel.accepts_inbound("the token the reply URL carrie")
    assert not channel.accepts_inbound("")
    assert not channel.accepts_inbound("ünïcode")
    assert channel.callback_url == "http://10.0.0.5:8080"


@pytest.mark.parametrize("sender", ["+12025550100", "ACME", "Acme Debt 1"])
def test_given_a_number_or_a_short_name_as_sender_then_it_is_taken(sender):
    assert config(sender=sender).sender == sender


@pytest.mark.parametrize("sender", ["12025550100x", "Acme Collections", "+0123", "", "A;B"])
def test_given_a_sender_no_network_takes_then_it_is_refused(sender):
    with pytest.raises(ValidationError, match="sender"):
        config(sender=sender)


def test_given_gateway_secrets_in_the_environment_then_they_are_used():
    raw = {**MINIMAL, "http": {}}
    raw["sms"] = {k: v for k, v in GATEWAY.items() if k not in ("password", "inbound_token")}
    parsed = parse_config(
        raw,
        environ={
            "PBX_ENGINE_SMS_PASSWORD": "from the environment",
            "PBX_ENGINE_SMS_INBOUND_TOKEN": "token from the environment",
        },
    )
    assert parsed.sms is not None
    assert parsed.sms.password.get_secret_value() == "from the environment"
    assert parsed.sms.inbound_token.get_secret_value() == "token from the environment"


def test_given_sms_without_the_http_server_then_the_config_says_where_reports_would_go():
    raw = {**MINIMAL, "sms": GATEWAY}
    with pytest.raises(ConfigError, match=r"\[sms\] needs \[http\]: the gateway's delivery"):
        parse_config(raw, environ={})


def test_given_only_the_gateway_secrets_then_sms_stays_off():
    parsed = parse_config(MINIMAL, environ={"PBX_ENGINE_SMS_PASSWORD": "x"})
    assert parsed.sms is None


def test_the_receipt_url_is_made_under_the_callback_address():
    sms = OutgoingSms("+1", "t", SmsEncoding.GSM7, "http://10.0.0.5:8080/sms/receipt/abc.def")
    url = urlsplit(sendsms_query(config(), sms)["dlr-url"])
    assert (url.path, parse_qs(url.query)) == (
        "/sms/receipt/abc.def",
        {"status": ["%d"], "answer": ["%A"]},
    )
