"""The `[web]` section: safe defaults, proxies as addresses or networks, bad values named."""

import ipaddress

import pytest

from pbx_engine.config import ConfigError, parse_config

MINIMAL = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine"}}


def test_given_no_web_section_then_production_with_no_trusted_proxy():
    web = parse_config(MINIMAL, environ={}).web
    assert web.mode == "production" and web.trusted_proxies == []
    assert (web.session_idle_minutes, web.token_lifetime_days) == (30.0, 90.0)
    assert web.signin_per_login_and_address < web.signin_per_address < web.signin_per_login


def test_given_proxies_as_addresses_or_networks_then_they_are_networks():
    raw = MINIMAL | {"web": {"trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "::1"]}}
    proxies = parse_config(raw, environ={}).web.trusted_proxies
    assert proxies[0] == ipaddress.ip_network("127.0.0.1/32")
    assert ipaddress.ip_address("10.2.3.4") in proxies[1]


@pytest.mark.parametrize(
    ("web", "key"),
    [
        ({"mode": "prod"}, "web.mode"),
        ({"trusted_proxies": ["proxy.example.com"]}, "web.trusted_proxies.0"),
        ({"session_idle_minutes": 0}, "web.session_idle_minutes"),
        ({"signin_per_address": 0}, "web.signin_per_address"),
        ({"trust_everyone": True}, "web.trust_everyone"),
    ],
)
def test_given_a_bad_web_setting_then_the_error_names_it(web, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(MINIMAL | {"web": web}, environ={})
