"""Agents' softphone accounts, the pure part: endpoint names, the stored credential, the PJSIP
objects pushed (as the agent-* templates of pjsip.conf), and the agents file."""

import hashlib
import io
import re
from pathlib import Path

import pytest

from pbx_engine.agents.roster import parse_roster
from pbx_engine.agents.softphones import (
    BROWSER_TRANSPORT,
    BadEndpointName,
    SoftphoneAccount,
    aor_fields,
    browser_endpoint_name,
    browser_phone_objects,
    check_endpoint_name,
    md5_credential,
    new_sip_password,
    pjsip_objects,
)
from pbx_engine.resources import ASTERISK_CONFIG_DIR


def _template(name: str) -> dict[str, str]:
    """The `[name](!)` template's settings in asterisk-config/engine/pjsip.conf."""
    text = (ASTERISK_CONFIG_DIR / "engine" / "pjsip.conf").read_text()
    body = text.split(f"[{name}](!)\n", 1)[1].split("\n[", 1)[0]
    pairs = (line.split("=", 1) for line in body.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.strip().startswith(";")}


@pytest.mark.parametrize("name", ["agent-001", "anna", "a.b_c-9", "A" * 64])
def test_given_a_safe_name_when_checked_then_it_is_kept(name):
    assert check_endpoint_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-lead", "agent;x", "agent\nx", "[agent]", "a b", "a/b", "a=b", "A" * 65, "ąę"],
)
def test_given_an_unsafe_name_when_checked_then_it_is_refused(name):
    with pytest.raises(BadEndpointName, match="1 to 64 letters"):
        check_endpoint_name(name)


def test_given_new_passwords_then_they_are_long_distinct_and_config_safe():
    passwords = {new_sip_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", p) for p in passwords)


def test_given_a_password_then_the_credential_is_rfc2617_ha1_in_the_asterisk_realm():
    expected = hashlib.md5(b"agent-001:asterisk:s3cret").hexdigest()
    assert md5_credential("agent-001", "s3cret") == expected


def test_given_an_account_then_auth_aor_endpoint_are_pushed_in_that_order():
    account = SoftphoneAccount("agent-007", "0" * 32)
    objects = pjsip_objects(account, rtp_timeout=15)
    assert [(o.kind, o.id) for o in objects] == [
        ("auth", "agent-007"),
        ("aor", "agent-007"),
        ("endpoint", "agent-007"),
    ]
    auth, aor, endpoint = (o.fields for o in objects)
    assert auth == {
        "auth_type": "md5",
        "username": "agent-007",
        "realm": "asterisk",
        "md5_cred": "0" * 32,
    }
    assert endpoint["auth"] == endpoint["aors"] == "agent-007"
    assert endpoint["rtp_timeout"] == "15"
    assert aor["max_contacts"] == "1"


def test_given_the_pjsip_templates_then_pushed_fields_mirror_them():
    account = SoftphoneAccount("agent-007", "0" * 32)
    _, aor, endpoint = (o.fields for o in pjsip_objects(account, rtp_timeout=15))
    endpoint_template = _template("agent-endpoint")
    del endpoint_template["type"]
    endpoint_template["rtp_timeout"] = "15"  # @@AGENT_RTP_TIMEOUT@@
    assert {k: endpoint[k] for k in endpoint_template} == endpoint_template
    aor_template = _template("agent-aor")
    del aor_template["type"]
    assert aor == aor_template


def _roster(text: str):
    return parse_roster(io.StringIO(text, newline=""))


def test_given_a_good_file_then_every_agent_is_read_with_defaults():
    roster = _roster("login,name,team,endpoint\nanna,Anna Nowak,north,agent-101\n\npiotr,,,\n")
    assert roster.problems == []
    anna, piotr = roster.agents
    assert (anna.line, anna.login, anna.name, anna.team, anna.endpoint, anna.role) == (
        2, "anna", "Anna Nowak", "north", "agent-101", "agent",
    )  # fmt: skip
    assert (piotr.line, piotr.name, piotr.team, piotr.endpoint) == (4, "piotr", None, "piotr")


def test_given_bad_lines_then_each_problem_names_its_line():
    roster = _roster(
        "login,name,team,endpoint,role\n"
        "anna,Anna,,agent;1,agent\n"
        ",Nobody,,,\n"
        "piotr,Piotr,,agent-2,boss\n"
        "ewa,Ewa,,agent-2\n"
        "oskar,Oskar,,agent-3,agent\n"
        "oskar,Oskar,,agent-4,agent\n"
        "marta,Marta,,agent-2,agent\n"
        'jan,"J\x07n",,,\n'
        "jo hn,,,,\n"
    )
    assert [str(p) for p in roster.problems] == [
        "line 2: endpoint name 'agent;1': use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
        "line 3: no login",
        "line 4: role 'boss': use agent, supervisor, admin",
        "line 5: 4 cells, the header has 5",
        "line 7: login 'oskar' is on line 6 already",
        "line 9: name holds a control character U+0007 (control character) at position 2",
        "line 10: endpoint name 'jo hn': use 1 to 64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit (the login stands in for it)",
    ]
    assert [a.login for a in roster.agents] == ["oskar", "marta"]


def test_given_a_repeated_endpoint_then_the_second_line_is_refused():
    roster = _roster("login,endpoint\nanna,agent-1\npiotr,agent-1\n")
    assert [str(p) for p in roster.problems] == ["line 3: endpoint 'agent-1' is on line 2 already"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: empty file"),
        ("name,team\n", "line 1: no login column"),
        ("login,phone\n", "line 1: unknown column(s) 'phone'"),
        ("login,login\n", "line 1: a column is named twice"),
    ],
)
def test_given_a_bad_header_then_nothing_is_read(text, problem):
    roster = _roster(text)
    assert roster.agents == []
    assert str(roster.problems[0]).startswith(problem)


def test_given_an_agent_id_then_his_browser_phone_has_a_pjsip_safe_name_of_its_own():
    assert browser_endpoint_name(17) == "web-17"
    assert check_endpoint_name(browser_endpoint_name(10**12)) == "web-1000000000000"


def test_given_a_browser_phone_then_it_is_a_webrtc_endpoint_on_the_websocket_transport():
    objects = browser_phone_objects("web-3", "pw-1", rtp_timeout=15)
    assert [(o.kind, o.id) for o in objects] == [
        ("auth", "web-3"), ("aor", "web-3"), ("endpoint", "web-3"),
    ]  # fmt: skip
    auth, aor, endpoint = (o.fields for o in objects)
    assert auth["md5_cred"] == md5_credential("web-3", "pw-1") and "password" not in auth
    assert aor == aor_fields()  # one registration, the newest wins
    assert endpoint["transport"] == BROWSER_TRANSPORT == "transport-ws"
    assert endpoint["webrtc"] == "yes" and endpoint["dtls_auto_generate_cert"] == "yes"
    assert (endpoint["allow"], endpoint["context"], endpoint["rtp_timeout"]) == (
        "ulaw", "from-agents", "15",
    )  # fmt: skip
    # The contact is the websocket's: nothing to rewrite, no address to learn from RTP.
    assert "rewrite_contact" not in endpoint and endpoint["rtp_symmetric"] == "no"


def test_given_the_operators_dtls_certificate_then_browser_phones_use_it_not_a_made_one():
    cert, key = Path("/etc/asterisk/keys/dtls.pem"), Path("/etc/asterisk/keys/dtls.key")
    endpoint = browser_phone_objects("web-3", "pw", 15, dtls_certificate=cert)[2].fields
    assert endpoint["dtls_cert_file"] == str(cert) and "dtls_auto_generate_cert" not in endpoint
    assert "dtls_private_key" not in endpoint  # the key is in the certificate's file
    endpoint = browser_phone_objects(
        "guest-1", "pw", 15, guest=True, dtls_certificate=cert, dtls_private_key=key
    )[2].fields
    assert (endpoint["dtls_cert_file"], endpoint["dtls_private_key"]) == (str(cert), str(key))


def test_given_the_engine_pjsip_conf_then_it_has_the_transport_browser_phones_name():
    text = (ASTERISK_CONFIG_DIR / "engine" / "pjsip.conf").read_text()
    section = text.split(f"[{BROWSER_TRANSPORT}]\n", 1)[1].split("\n\n", 1)[0]
    assert "protocol = ws" in section


def test_given_two_issues_then_each_password_opens_its_own_credential_only():
    first = browser_phone_objects("web-3", new_sip_password(), rtp_timeout=15)[0]
    second = browser_phone_objects("web-3", new_sip_password(), rtp_timeout=15)[0]
    assert first.fields["md5_cred"] != second.fields["md5_cred"]
