import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.conferences.invitations import Invitation, InvitationError, make_token, read_token
from pbx_engine.messaging.unsubscribe import (
    Unsubscribe,
    UnsubscribeError,
    make_unsubscribe_token,
    read_unsubscribe_token,
)
from pbx_engine.signed_tokens import (
    ForgedToken,
    MalformedToken,
    TokenError,
    TokenPurpose,
    read_signed_token,
    sign_token,
)

SECRET = b"s" * 32
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
# Links already handed out (from before tokens were shared between purposes) must still read.
ISSUED_INVITATION = (
    "eyJyb29tIjoic2FsZXMiLCJleHAiOjE3OTYzMDI4MDAsImlkIjoiazEifQ"
    ".jzyCa8Lt4soNBtM13TwiR154JQWHWc5PfmvE-S6786g"
)
ISSUED_UNSUBSCRIBE = (
    "eyJjIjo3LCJhIjoiamFuZUBleGFtcGxlLm9yZyJ9.5DNBfyBGjkO_YQVszvEoKYFbuDmDlEPMAvTfaMRISoA"
)
PAIRS = [(a, b) for a in TokenPurpose for b in TokenPurpose if a is not b]


@pytest.mark.parametrize("purpose", list(TokenPurpose))
def test_given_a_token_when_read_for_its_purpose_then_its_body(purpose):
    token = sign_token(purpose, {"room": "sales", "n": 3}, SECRET)
    assert read_signed_token(purpose, token, SECRET) == {"room": "sales", "n": 3}


@pytest.mark.parametrize(("made_for", "read_for"), PAIRS)
def test_given_a_token_for_one_purpose_when_read_for_another_then_forged(made_for, read_for):
    token = sign_token(made_for, {"c": 7, "a": "jane@example.org"}, SECRET)
    with pytest.raises(ForgedToken):
        read_signed_token(read_for, token, SECRET)


def test_given_an_unsubscribe_token_with_its_prefix_moved_into_the_payload_then_refused():
    """Its signed text, read as an invitation's (no prefix), would otherwise check out."""
    payload, _, signature = sign_token(TokenPurpose.UNSUBSCRIBE, {"c": 7}, SECRET).partition(".")
    with pytest.raises(MalformedToken):
        read_signed_token(TokenPurpose.INVITATION, f"unsubscribe:{payload}.{signature}", SECRET)


def test_given_every_purpose_then_its_prefix_is_empty_or_a_word_and_one_colon():
    for purpose in TokenPurpose:
        word, colon, rest = purpose.value.partition(b":")
        assert purpose.value == b"" or (word.isalpha() and colon and not rest)


def test_given_a_token_when_its_payload_is_changed_then_forged():
    token = sign_token(TokenPurpose.UNSUBSCRIBE, {"c": 7}, SECRET)
    other = sign_token(TokenPurpose.UNSUBSCRIBE, {"c": 8}, SECRET)
    with pytest.raises(ForgedToken):
        read_signed_token(
            TokenPurpose.UNSUBSCRIBE, f"{other.split('.')[0]}.{token.split('.')[1]}", SECRET
        )


def test_given_a_token_when_its_signature_is_changed_then_forged():
    payload, _, signature = sign_token(TokenPurpose.INVITATION, {"c": 7}, SECRET).partition(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    with pytest.raises(ForgedToken):
        read_signed_token(TokenPurpose.INVITATION, f"{payload}.{flipped}", SECRET)


def test_given_a_token_when_another_secret_reads_it_then_forged():
    token = sign_token(TokenPurpose.INVITATION, {"c": 7}, SECRET)
    with pytest.raises(ForgedToken):
        read_signed_token(TokenPurpose.INVITATION, token, b"t" * 32)


@pytest.mark.parametrize("token", ["", "abc", "abc.", ".abc", "a:b.c", "a b.c", "é.x"])
def test_given_text_not_shaped_like_a_token_then_malformed(token):
    with pytest.raises(MalformedToken):
        read_signed_token(TokenPurpose.INVITATION, token, SECRET)


def test_given_a_signed_payload_that_is_no_json_object_then_malformed():
    payload = "WzFd"  # base64url of [1]
    digest = hmac.new(SECRET, payload.encode(), hashlib.sha256).digest()  # signed, no prefix
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    with pytest.raises(MalformedToken):
        read_signed_token(TokenPurpose.INVITATION, f"{payload}.{signature}", SECRET)


@given(st.text(max_size=80))
def test_given_any_text_when_read_then_a_token_error_never_a_crash(text):
    for purpose in TokenPurpose:
        with pytest.raises(TokenError):
            read_signed_token(purpose, text, SECRET)


def test_given_links_already_handed_out_then_they_still_read():
    assert read_token(ISSUED_INVITATION, SECRET, NOW) == Invitation(
        "sales", NOW + timedelta(hours=1), "k1"
    )
    assert read_unsubscribe_token(ISSUED_UNSUBSCRIBE, SECRET) == Unsubscribe(7, "jane@example.org")
    invitation = Invitation("sales", NOW + timedelta(hours=1), "k1")
    assert make_token(invitation, SECRET) == ISSUED_INVITATION
    assert make_unsubscribe_token(7, "jane@example.org", SECRET) == ISSUED_UNSUBSCRIBE


def test_given_an_invitation_when_read_as_an_unsubscribe_link_then_refused_and_back():
    with pytest.raises(UnsubscribeError, match="not valid"):
        read_unsubscribe_token(ISSUED_INVITATION, SECRET)
    with pytest.raises(InvitationError, match="not valid"):
        read_token(ISSUED_UNSUBSCRIBE, SECRET, NOW)


def test_given_an_invitation_at_or_after_its_expiry_then_expired():
    token = make_token(Invitation("sales", NOW, "k1"), SECRET)
    with pytest.raises(InvitationError, match="expired"):
        read_token(token, SECRET, NOW)
    with pytest.raises(InvitationError, match="expired"):
        read_token(token, SECRET, NOW + timedelta(days=1))
    assert read_token(token, SECRET, NOW - timedelta(seconds=1)).room == "sales"
