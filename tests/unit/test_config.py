from pathlib import Path

import pytest

from pbx_engine.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "docker" / "engine.example.toml"
MINIMAL = {"ari": {"url": "http://127.0.0.1:8088", "username": "engine"}}


def test_given_the_shipped_example_when_loaded_then_it_is_valid():
    config = load_config(EXAMPLE, environ={})
    assert config.ari.app == "pbx-engine"
    assert config.dialer.trunk == "pstn"


def test_given_a_minimal_mapping_when_parsed_then_defaults_fill_the_rest():
    config = parse_config(MINIMAL, environ={})
    assert config.database.port == 5432
    assert config.ami is None
    assert config.logging.format == "auto"


def test_given_a_typo_in_a_key_when_loaded_then_the_error_names_file_and_key(tmp_path):
    path = tmp_path / "engine.toml"
    path.write_text('[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\npasword = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert str(path) in message
    assert "ari.pasword" in message
    assert "unknown key" in message


def test_given_a_missing_section_when_parsed_then_the_error_says_required():
    with pytest.raises(ConfigError, match=r"ari: required key is missing"):
        parse_config({}, "engine.toml", environ={})


def test_given_a_wrong_type_when_parsed_then_the_error_names_the_key():
    raw = {**MINIMAL, "dialer": {"ring_timeout": "soon"}}
    with pytest.raises(ConfigError, match=r"dialer\.ring_timeout"):
        parse_config(raw, environ={})


def test_given_an_out_of_range_port_when_parsed_then_it_is_refused():
    raw = {**MINIMAL, "database": {"port": 70000}}
    with pytest.raises(ConfigError, match=r"database\.port"):
        parse_config(raw, environ={})


def test_given_an_unknown_region_when_parsed_then_it_is_refused():
    with pytest.raises(ConfigError, match="unknown region"):
        parse_config({**MINIMAL, "default_region": "XX"}, environ={})


def test_given_broken_toml_when_loaded_then_the_error_says_so(tmp_path):
    path = tmp_path / "engine.toml"
    path.write_text("[ari\nurl = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, environ={})


def test_given_a_missing_file_when_loaded_then_the_error_names_it(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", environ={})


def test_given_secrets_in_the_environment_when_parsed_then_they_are_used_and_hidden():
    environ = {"PBX_ENGINE_ARI_PASSWORD": "s3cret", "PBX_ENGINE_DATABASE_DSN": "postgresql://x/y"}
    config = parse_config(MINIMAL, environ=environ)
    assert config.ari.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.database.connect_kwargs() == {"dsn": "postgresql://x/y"}


def test_given_a_misspelt_time_zone_when_parsed_then_it_is_refused_with_an_example():
    raw = {**MINIMAL, "timezone": "Europe/Warsow"}
    with pytest.raises(ConfigError, match=r"timezone.*unknown time zone 'Europe/Warsow'"):
        parse_config(raw, environ={})
    assert parse_config({**MINIMAL, "timezone": "Europe/Warsaw"}, environ={}).timezone == (
        "Europe/Warsaw"
    )
