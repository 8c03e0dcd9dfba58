"""The baresip softphone's account line: what baresip 1.0.0 reads to register and answer."""

from pathlib import Path

import pytest

from pbx_engine.lab.sandbox.baresip import BaresipPhone
from pbx_engine.lab.sandbox.errors import SandboxError


def test_given_a_registrar_when_the_account_is_written_then_it_registers_and_answers():
    phone = BaresipPhone(
        "agent-001", Path("tone.wav"), password="pw", registrar=("127.0.0.1", 5080), port=40000
    )
    assert phone.account_line() == (
        "<sip:agent-001@127.0.0.1:5080>;auth_pass=pw;regint=600;answermode=auto;audio_codecs=pcmu"
    )


def test_given_no_registrar_when_the_account_is_written_then_it_only_listens_as_its_user():
    phone = BaresipPhone("+12025550143", Path("voice.wav"), host="127.0.0.2", port=40002)
    assert phone.account_line() == (
        "<sip:+12025550143@127.0.0.2:40002>;regint=0;answermode=auto;audio_codecs=pcmu"
    )


def test_given_a_registrar_without_a_password_when_made_then_it_is_refused():
    with pytest.raises(SandboxError, match="needs a password"):
        BaresipPhone("agent-001", Path("tone.wav"), registrar=("127.0.0.1", 5080))
