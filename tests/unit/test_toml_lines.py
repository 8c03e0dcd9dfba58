"""check-config's line numbers: where a key, or the table a missing key belongs in, sits."""

import pytest

from pbx_engine.toml_lines import key_line

TEXT = """\
# engine
default_region = "US"
room_dids = ["+12025551801", "bad"]

[ari]
url = "http://127.0.0.1:8088"
username = "e"

[dialer]
trunks = "x"      # a typo

[[rooms]]
name = "a"

[[rooms]]
name = "b"
pin = "12"

[outbound.purposes.campaign]
countries = ["US"]
"""


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("default_region",), 2),
        (("room_dids", 1), 3),
        (("ari", "username"), 7),
        (("ari", "password"), 5),  # missing: the table's header
        (("dialer", "trunks"), 10),
        (("rooms", 1, "pin"), 17),
        (("rooms", 0, "moderator"), 12),
        (("rooms",), 12),
        (("outbound", "purposes", "campaign", "countries"), 20),
        (("web", "mode"), None),
    ],
)
def test_given_an_error_location_when_looked_up_then_the_line_is_the_keys_or_its_tables(loc, line):
    assert key_line(TEXT, loc) == line


def test_given_a_typo_and_a_bad_value_when_checked_then_each_problem_names_its_line(
    tmp_path, capsys
):
    import structlog

    from pbx_engine.cli import main

    path = tmp_path / "engine.toml"
    path.write_text(
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n\n[dialer]\ntrunks = "x"\n'
        "ring_timeout = 900\n"
    )
    try:
        assert main(["check-config", str(path)]) == 1
    finally:
        structlog.reset_defaults()
    err = capsys.readouterr().err
    assert "  dialer.trunks (line 6): unknown key (a typo?)" in err
    assert "  dialer.ring_timeout (line 7): Input should be less than or equal to 300" in err
