"""The SIP edge's configuration: kamailio/kamailio.cfg filled in, and the values it is given
checked (whether Kamailio accepts the result is the integration test's: the sandbox starts it
from `write_edge`)."""

import re
from pathlib import Path

import pytest

from pbx_engine.cli import main
from pbx_engine.edge.kamailio import EdgeError, EdgeSettings, nodes_list, render
from pbx_engine.resources import KAMAILIO_CONFIG_DIR

SHIPPED = (KAMAILIO_CONFIG_DIR / "kamailio.cfg").read_text()
TWO = EdgeSettings.checked("udp:10.0.0.5:5060", ["sip:10.0.0.11:5060", "sip:node-2.lan:5080"])


def test_every_value_of_the_shipped_config_is_filled_in():
    text = render(SHIPPED, TWO, nodes_file=Path("/run/edge/nodes.list"), run_dir=Path("/run/edge"))
    assert not re.search(r"@@[A-Z_]+@@", text)
    assert "listen=udp:10.0.0.5:5060" in text
    assert 'modparam("dispatcher", "list_file", "/run/edge/nodes.list")' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 1)' in text


def test_every_node_is_in_the_dispatcher_set_with_equal_weight():
    assert nodes_list(TWO) == "1 sip:10.0.0.11:5060 0 0\n1 sip:node-2.lan:5080 0 0\n"


def test_a_value_nobody_fills_in_is_named():
    with pytest.raises(EdgeError, match="@@TLS_CERT@@"):
        render(SHIPPED + "\n# @@TLS_CERT@@\n", TWO, nodes_file=Path("n"), run_dir=Path("r"))


@pytest.mark.parametrize(
    ("listen", "nodes", "probe", "says"),
    [
        ("10.0.0.5:5060", ["sip:10.0.0.11:5060"], 1, "listen"),
        ("udp:10.0.0.5:70000", ["sip:10.0.0.11:5060"], 1, "listen"),
        ("udp:10.0.0.5:5060", [], 1, "no node"),
        ("udp:10.0.0.5:5060", ["10.0.0.11:5060"], 1, "node"),
        ("udp:10.0.0.5:5060", ["sip:10.0.0.11"], 1, "node"),
        ("udp:10.0.0.5:5060", ["sip:10.0.0.11:5060\n1 sip:evil:5060"], 1, "node"),
        ("udp:10.0.0.5:5060", ['sip:x";exec("rm"):5060'], 1, "node"),
        ("udp:10.0.0.5:5060", ["sip:10.0.0.11:5060", "sip:10.0.0.11:5060"], 1, "twice"),
        ("udp:10.0.0.5:5060", ["sip:10.0.0.11:5060"], 0, "probe"),
    ],
)
def test_a_wrong_value_is_refused_naming_it(listen, nodes, probe, says):
    with pytest.raises(EdgeError, match=says):
        EdgeSettings.checked(listen, nodes, probe)


def test_a_path_with_a_quote_or_space_is_refused():
    with pytest.raises(EdgeError, match="path"):
        render(SHIPPED, TWO, nodes_file=Path('/run/a"b'), run_dir=Path("/run/edge"))


def test_the_render_command_writes_both_files_or_says_what_is_wrong(tmp_path, capsys):
    out = tmp_path / "edge"
    code = main(
        ["kamailio", "render", "--node", "sip:10.0.0.11:5060,sip:10.0.0.12:5060", "--out", str(out)]
    )
    assert code == 0
    assert (out / "nodes.list").read_text().count("\n1 ") + 1 == 2
    assert "listen=udp:0.0.0.0:5060" in (out / "kamailio.cfg").read_text()
    assert main(["kamailio", "render", "--node", "10.0.0.11", "--out", str(out)]) == 2
    assert "node '10.0.0.11': expected sip:ADDRESS:PORT" in capsys.readouterr().err
