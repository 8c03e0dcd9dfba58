"""kamailio/kamailio.cfg as the sandbox fills it in (whether Kamailio accepts it is the
integration test's: the sandbox starts it)."""

import re
from pathlib import Path

import pytest

from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.kamailio import node_uri, render_config
from pbx_engine.resources import KAMAILIO_CONFIG_DIR

SHIPPED = (KAMAILIO_CONFIG_DIR / "kamailio.cfg").read_text()


def test_every_value_of_the_shipped_config_is_filled_in():
    text = render_config(
        SHIPPED,
        listen="udp:127.0.0.1:5060",
        nodes_file=Path("/run/nodes.list"),
        probe=1,
        run_dir=Path("/run/kamailio"),
    )
    assert not re.search(r"@@[A-Z_]+@@", text)
    assert "listen=udp:127.0.0.1:5060" in text
    assert 'modparam("dispatcher", "list_file", "/run/nodes.list")' in text
    assert 'modparam("dispatcher", "ds_ping_interval", 1)' in text


def test_a_value_nobody_fills_in_is_named():
    with pytest.raises(SandboxError, match="@@TLS_CERT@@"):
        render_config(
            SHIPPED + "\n# @@TLS_CERT@@\n",
            listen="udp:127.0.0.1:5060",
            nodes_file=Path("n"),
            probe=1,
            run_dir=Path("r"),
        )


def test_a_node_is_addressed_by_sip_uri():
    assert node_uri("127.0.0.2", 5062) == "sip:127.0.0.2:5062"
