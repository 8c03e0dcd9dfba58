"""The web edge's pure decisions: where a sign-in may land, which forwarded headers count,
which Origin may sign in, the headers on every response, what the log keeps of a login."""

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.web.security import (
    ClientView,
    client_view,
    login_digest,
    safe_next,
    same_site_origin,
    security_headers,
)

PROXIES = [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("::1/128")]


def test_given_paths_of_this_site_when_checked_then_they_are_kept():
    for path in ("/desk/", "/wallboard/", "/reports/?per=agent&from=2026-12-01", "/a%20b"):
        assert safe_next(path) == path


def test_given_targets_elsewhere_when_checked_then_they_are_refused():
    for target in (
        "/\\evil.example",
        "\\\\evil.example",
        "//evil.example",
        "///evil.example",
        "/%5Cevil.example",
        "/%5cevil.example",
        "/%2F/evil.example",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\n/evil.example",
        "/%09/evil.example",
        " /desk/",
        "desk/",
        "",
        None,
        "/" + "a" * 2001,
    ):
        assert safe_next(target) is None, target


@given(st.text())
def test_given_any_text_when_kept_then_it_is_a_single_slash_path(text):
    kept = safe_next(text)
    if kept is not None:
        assert kept.startswith("/") and not kept.startswith("//") and "\\" not in kept


def test_given_a_direct_client_when_it_sends_forwarded_headers_then_they_are_ignored():
    headers = {"X-Forwarded-For": "192.0.2.9", "X-Forwarded-Proto": "https"}
    assert client_view("203.0.113.5", headers, PROXIES, tls=False) == ClientView(
        "203.0.113.5", False
    )
    assert client_view("203.0.113.5", headers, [], tls=True) == ClientView("203.0.113.5", True)


def test_given_a_trusted_proxy_when_it_forwards_then_the_client_and_scheme_are_its_word():
    headers = {"X-Forwarded-For": "192.0.2.9", "X-Forwarded-Proto": "https"}
    assert client_view("10.1.2.3", headers, PROXIES, tls=False) == ClientView("192.0.2.9", True)
    assert client_view("::1", {}, PROXIES, tls=False) == ClientView("::1", False)


def test_given_a_forged_first_hop_when_read_from_the_right_then_the_proxys_peer_counts():
    """A client may send its own X-Forwarded-For; the proxy appends the address it saw."""
    headers = {"X-Forwarded-For": "1.2.3.4, 198.51.100.20, 10.1.0.9"}
    assert client_view("10.1.2.3", headers, PROXIES, tls=False).address == "198.51.100.20"


def test_given_rfc7239_forwarded_from_a_trusted_proxy_then_it_is_read():
    headers = {"Forwarded": 'for="[2001:db8::7]:4711";proto=https, for=10.1.0.9:80;proto=http'}
    view = client_view("10.1.2.3", headers, PROXIES, tls=False)
    assert view == ClientView("2001:db8::7", False)  # the last proxy's proto is the one seen
    view = client_view("10.1.2.3", {"Forwarded": "for=192.0.2.1;proto=https"}, PROXIES, False)
    assert view == ClientView("192.0.2.1", True)


def test_given_an_origin_when_signing_in_then_only_this_host_may():
    assert same_site_origin("https://pbx.example.com", "pbx.example.com")
    assert same_site_origin("http://127.0.0.1:8080", "127.0.0.1:8080")
    for origin in (
        None,
        "",
        "null",
        "https://evil.example",
        "https://pbx.example.com.evil",
        "pbx.example.com",
        "ftp://pbx.example.com",
    ):
        assert not same_site_origin(origin, "pbx.example.com"), origin


def test_given_any_response_then_it_carries_the_headers_and_hsts_only_over_tls():
    plain = security_headers(https=False)
    assert "frame-ancestors 'none'" in plain["Content-Security-Policy"]
    assert plain["X-Content-Type-Options"] == "nosniff"
    assert plain["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in plain
    assert security_headers(https=True)["Strict-Transport-Security"].startswith("max-age=")


def test_given_a_typed_login_when_logged_then_only_12_hex_of_its_sha256():
    digest = login_digest("my password by mistake")
    assert len(digest) == 12 and "password" not in digest
    assert digest == login_digest("my password by mistake")


def test_given_a_clients_own_forwarded_passed_through_when_the_proxy_sets_xff_then_xff_wins():
    headers = {"Forwarded": "for=6.6.6.6;proto=https", "X-Forwarded-For": "192.0.2.44"}
    view = client_view("10.1.2.3", headers, PROXIES, tls=False)
    assert view.address == "192.0.2.44"
