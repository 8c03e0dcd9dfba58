"""Control characters in text from outside: refused where text enters (case files, API bodies,
config files) and again where it leaves for Asterisk (FastAGI, ARI, AMI)."""

import asyncio
import io
import unicodedata

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.agi.server import AgiCall, UnsafeAgiValue, agi_argument, set_variable_command
from pbx_engine.ami.client import AmiClient, UnsafeAmiValue, refuse_unsafe_action
from pbx_engine.ari.client import AriClient, refuse_unsafe_request
from pbx_engine.ari.errors import AriError, UnsafeAriValue
from pbx_engine.callerid.pools import PoolsFile
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.cases.importer import parse_cases
from pbx_engine.config import AmiConfig, AriConfig
from pbx_engine.text import (
    ControlCharacterError,
    control_character_problem,
    refuse_control_characters,
)
from pbx_engine.web.payloads import DispositionPayload, PausePayload, PaymentPayload

# Every character the boundaries refuse: C0 (with NUL, TAB, CR, LF), DEL, C1 (with NEL), the
# Unicode line and paragraph separators.
REFUSED = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)]
# Printable text: letters of every script, punctuation, quotes, backslashes, emoji...
PRINTABLE = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=0, max_size=40
)


@st.composite
def with_a_control_character(draw) -> str:
    text = draw(PRINTABLE)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.sampled_from(REFUSED)) + text[at:]


def agi_unquote(argument: str) -> str:
    """How res_agi reads one quoted argument: a backslash takes the next character as it is."""
    assert argument.startswith('"') and argument.endswith('"')
    out, escaped = [], False
    for char in argument[1:-1]:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            assert char != '"', "an unescaped quote would end the argument"
            out.append(char)
    assert not escaped
    return "".join(out)


# ---------------------------------------------------------------- the pure checks
def test_every_refused_character_is_a_control_or_a_line_separator():
    for char in REFUSED:
        assert unicodedata.category(char) in ("Cc", "Zl", "Zp")
        assert control_character_problem(char) is not None


@given(with_a_control_character())
def test_any_text_with_a_control_character_is_refused_everywhere(text):
    assert control_character_problem(text) is not None
    with pytest.raises(ControlCharacterError):
        refuse_control_characters(text, "reference")
    with pytest.raises(UnsafeAgiValue):
        agi_argument(text, "CASE_REF")
    with pytest.raises(UnsafeAriValue):
        refuse_unsafe_request("POST", "/channels", {"callerId": text}, None)
    with pytest.raises(UnsafeAriValue):
        refuse_unsafe_request("POST", "/channels", {}, {"variables": {"CASE_REF": text}})
    with pytest.raises(UnsafeAmiValue):
        refuse_unsafe_action({"Action": "PJSIPShowEndpoint", "Endpoint": text})
    with pytest.raises(pydantic.ValidationError):
        PausePayload(reason="x" + text)


@given(PRINTABLE)
def test_any_printable_text_passes_and_round_trips(text):
    assert control_character_problem(text) is None
    assert refuse_control_characters(text, "reference") == text
    assert agi_unquote(agi_argument(text, "CASE_REF")) == text
    refuse_unsafe_request("POST", "/channels", {"appArgs": [text]}, {"variables": {"X": text}})
    refuse_unsafe_action({"Action": "PJSIPShowEndpoint", "Endpoint": text})
    if text:
        assert PausePayload(reason=text[:100]).reason == text[:100]
    assert DispositionPayload(code="refused", note=text).note == text


def test_the_refusal_names_the_character_and_where_it_is():
    with pytest.raises(ControlCharacterError) as refused:
        refuse_control_characters("R-1\nEXEC System", "case reference")
    assert str(refused.value) == (
        "case reference holds a control character U+000A (LINE FEED) at position 4"
    )


# ---------------------------------------------------------------- the case importer
HEADER = "reference,debtor_name,amount_owed,currency,creditor,phones,address"


def parse(body: str):
    return parse_cases(io.StringIO(f"{HEADER}\n{body}", newline=""), "US")


def test_given_an_agi_command_after_a_newline_in_a_reference_then_the_row_is_refused():
    batch = parse(
        "R-0,Ann Lee,10,USD,Acme,+12025550100,\n"
        '"R-1\nEXEC System ""touch /tmp/pwned""",Bob Ray,20,USD,Acme,+12025550101,\n'
        "R-2,Cy Fox,30,USD,Acme,+12025550102,\n"
    )
    assert [row.reference for row in batch.rows] == ["R-0", "R-2"]
    [error] = batch.errors
    # The bad row starts on line 3 and spans two; the next good row is on line 5.
    assert error.line == 3
    assert "reference holds a control character U+000A (LINE FEED) at position 4" in str(error)
    assert batch.rows[1].line == 5


@pytest.mark.parametrize(
    ("row", "field", "char"),
    [
        ("R-1,Ann\x00Lee,10,USD,Acme,+12025550100,", "debtor_name", "U+0000"),
        ("R-1,Ann Lee,10,USD,Acme,+12025550100,Main St\t1", "address", "U+0009"),
        ('R-1,Ann Lee,10,USD,Acme,+12025550100,"Main St\r1"', "address", "U+000D"),
        ("R-1,Ann Lee,10,USD,Ac\x7fme,+12025550100,", "creditor", "U+007F"),
        ("R-1,Ann Lee,10,USD,Acme,+12025550100\x85,", "phones", "U+0085"),
        ("R-1\u2028,Ann Lee,10,USD,Acme,+12025550100,", "reference", "U+2028"),
        ("R-1,Ann Lee\u2029,10,USD,Acme,+12025550100,", "debtor_name", "U+2029"),
        ("R-1,Ann Lee,1\x1b0,USD,Acme,+12025550100,", "amount_owed", "U+001B"),
    ],
)
def test_given_a_control_character_in_any_field_when_imported_then_the_field_is_named(
    row, field, char
):
    batch = parse(row + "\nR-2,Cy Fox,30,USD,Acme,+12025550102,\n")
    assert [r.reference for r in batch.rows] == ["R-2"]
    [error] = batch.errors
    assert error.line == 2
    assert error.reason.startswith(f"{field} holds a control character {char}")


def test_given_two_bad_fields_when_imported_then_both_are_named():
    [error] = parse('R-1\t,"Ann\nLee",10,USD,Acme,+12025550100,\n').errors
    assert error.line == 2
    assert error.reason == (
        "reference holds a control character U+0009 (TAB) at position 4; "
        "debtor_name holds a control character U+000A (LINE FEED) at position 4"
    )


def test_given_a_creditor_option_with_a_newline_when_imported_then_the_file_is_refused():
    from pbx_engine.cases.importer import FileError

    with pytest.raises(FileError, match="creditor holds a control character U\\+000A"):
        parse_cases(io.StringIO(f"{HEADER}\n"), "US", creditor="Acme\nEXEC")


# ---------------------------------------------------------------- FastAGI
def test_agi_set_variable_escapes_quotes_and_backslashes():
    assert set_variable_command("CASE_REF", 'R-1" EXEC\\') == (
        'SET VARIABLE CASE_REF "R-1\\" EXEC\\\\"'
    )


@pytest.mark.parametrize("name", ["CASE REF", "X\nEXEC", "", "1X", "A-B"])
def test_agi_variable_names_other_than_plain_names_are_refused(name):
    with pytest.raises(UnsafeAgiValue):
        set_variable_command(name, "ok")


class _RecordingRequest:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_command(self, command: str) -> dict:
        self.sent.append(command)
        return {"200": {"result": ("1", "")}}


def test_given_one_unsafe_value_when_agi_sets_variables_then_none_is_sent():
    request = _RecordingRequest()
    call = AgiCall("lookup_case", (), {}, request)  # type: ignore[arg-type]
    values = {"CASE_ID": "7", "CASE_REF": 'R-1\nEXEC System "id"', "CASE_OWNER": ""}
    with pytest.raises(UnsafeAgiValue, match="AGI variable CASE_REF holds a control character"):
        asyncio.run(call.set_variables(values))
    assert request.sent == []
    asyncio.run(call.set_variables({"CASE_ID": "7", "CASE_REF": "R-1"}))
    assert request.sent == ['SET VARIABLE CASE_ID "7"', 'SET VARIABLE CASE_REF "R-1"']


# ---------------------------------------------------------------- ARI
ARI = AriConfig(url="http://127.0.0.1:1", username="u", password="p", app="pbx-engine")


@pytest.mark.parametrize(
    "send",
    [
        lambda ari: ari.originate("PJSIP/x@pstn", app="a", caller_id="+1202\r\nX"),
        lambda ari: ari.originate("PJSIP/x@pstn", app="a", app_args=["outbound", "a\nb"]),
        lambda ari: ari.originate("PJSIP/x@pstn", app="a", variables={"CASE_REF": "R\n1"}),
        lambda ari: ari.create_channel("PJSIP/x\n@pstn", app="a"),
        lambda ari: ari.create_channel("PJSIP/x@pstn", app="a", variables={"X\r": "1"}),
        lambda ari: ari.set_variable("chan-1", "ENGINE_MESSAGE", "hello\x00"),
        lambda ari: ari.move("chan-1", app="a", app_args=["x\u2028"]),
        lambda ari: ari.continue_in_dialplan("chan-1", context="engine\nmessage"),
        lambda ari: ari.hangup("chan\n-1"),
    ],
)
def test_given_a_control_character_when_calling_ari_then_nothing_is_sent(send):
    async def attempt():
        # The client is not even open: a value is refused before any connection is looked at.
        await send(AriClient(ARI))

    with pytest.raises(UnsafeAriValue) as refused:
        asyncio.run(attempt())
    assert isinstance(refused.value, AriError)  # flows that handle ARI errors handle it too
    assert "control character" in str(refused.value)
    assert "\n" not in str(refused.value) and "\r" not in str(refused.value)


# ---------------------------------------------------------------- AMI
def test_given_a_line_break_in_an_ami_field_then_the_action_is_refused_before_sending():
    ami = AmiClient(AmiConfig(username="u", secret="s"))
    action = {"Action": "PJSIPShowEndpoint", "Endpoint": "pstn\r\n\r\nAction: Originate"}
    with pytest.raises(UnsafeAmiValue, match="'Endpoint' holds a control character U\\+000D"):
        asyncio.run(ami._action(action))
    with pytest.raises(UnsafeAmiValue):
        refuse_unsafe_action({"Action": "Ping", "X\nY": "1"})


# ---------------------------------------------------------------- API bodies and config files
@pytest.mark.parametrize("reason", ["lunch\nbreak", "lunch\x00", "a\u2028b", "\tlunch"])
def test_a_pause_reason_with_a_control_character_is_refused(reason):
    with pytest.raises(pydantic.ValidationError, match="control character"):
        PausePayload(reason=reason)


def test_a_note_keeps_new_lines_and_tabs_but_refuses_other_controls():
    assert DispositionPayload(code="refused", note="a\r\nb\tc").note == "a\nb\tc"
    for bad in ("a\rb", "a\x00", "a\x1b[31m", "a\u2029"):
        with pytest.raises(pydantic.ValidationError, match="control character"):
            DispositionPayload(code="refused", note=bad)


def test_a_payment_reference_with_a_newline_is_refused():
    with pytest.raises(pydantic.ValidationError, match="control character"):
        PaymentPayload(amount="1", paid_on="2026-01-01", reference="TX-1\nEXEC")


def test_campaign_and_number_pool_files_refuse_control_characters():
    with pytest.raises(pydantic.ValidationError, match="machine_message"):
        CampaignConfig.model_validate({"name": "c", "machine_message": "msg\nEXEC System x"})
    with pytest.raises(pydantic.ValidationError, match="agents"):
        CampaignConfig.model_validate({"name": "c", "agents": ["anna\r"]})
    pool = {"name": "p", "numbers": [{"number": "+12025550100", "trunk": "pstn\n"}]}
    with pytest.raises(pydantic.ValidationError, match="trunk"):
        PoolsFile.model_validate({"pool": [pool]})
