"""Asterisk's configuration rendered from the engine's: every placeholder has a value, an
unknown one names its file and line, and the settings Asterisk cannot do without are named."""

import re
from pathlib import Path

import pytest
import structlog

from pbx_engine.asterisk_config import (
    PLACEHOLDERS,
    RUNTIME_FOLDERS,
    RenderError,
    engine_values,
    render,
    render_profile,
    write_runtime,
)
from pbx_engine.asterisk_config.templates import placeholders_in
from pbx_engine.cli import main
from pbx_engine.config import parse_config
from pbx_engine.resources import ASTERISK_CONFIG_DIR, DIALPLANS_DIR

ENGINE = {
    "ari": {"url": "http://127.0.0.1:8088", "username": "engine", "password": "Ari-pass-of-test"},
    "ami": {"username": "engine", "secret": "Ami-secret-of-test"},
    "agi": {"port": 4600},
    "asterisk": {"trunk_host": "203.0.113.10", "rtp_start": 30000, "rtp_end": 30999},
}


@pytest.fixture(autouse=True)
def _restore_logging():
    yield
    structlog.reset_defaults()


def config(**changes):
    raw = {key: dict(value) for key, value in ENGINE.items()}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw.setdefault(section, {})[key] = value
    return parse_config(raw, "engine.toml", environ={})


def test_given_the_templates_when_scanned_then_every_placeholder_is_one_the_engine_fills():
    templates = [*ASTERISK_CONFIG_DIR.rglob("*.conf"), *DIALPLANS_DIR.glob("*.conf")]
    used = set().union(*(placeholders_in(p.read_text()) for p in templates))
    assert used <= PLACEHOLDERS, used - PLACEHOLDERS
    assert set(engine_values(config())) == PLACEHOLDERS


def test_given_the_engine_config_when_rendered_then_no_placeholder_is_left_and_values_land():
    files = render_profile("engine", engine_values(config(), Path("/srv/ast")))
    assert "dialplan.conf" in files and "pjsip.conf" in files
    assert not [name for name, text in files.items() if "@@" in text]
    assert "bindport = 8088" in files["http.conf"]
    assert "password = Ari-pass-of-test" in files["ari.conf"]
    assert "secret = Ami-secret-of-test" in files["manager.conf"]
    assert "ENGINE_AGI_URL = agi://127.0.0.1:4600" in files["extensions.conf"]
    assert "contact = sip:203.0.113.10:5060" in files["pjsip.conf"]
    assert "rtpstart = 30000" in files["rtp.conf"]
    assert "astspooldir => /srv/ast/spool" in files["asterisk.conf"]


def test_given_an_unknown_placeholder_when_rendered_then_the_error_names_file_and_line():
    with pytest.raises(RenderError, match=r"^x\.conf:3: unknown placeholder @@NOPE@@$"):
        render("a\nb = @@RUN_DIR@@\nc = @@NOPE@@\n", {"RUN_DIR": "/r"}, "x.conf")


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"asterisk__trunk_host": None}, "asterisk.trunk_host"),
        ({"dialer__trunk": "carrier"}, "dialer.trunk"),
        ({"ari__password": "semi;colon-pass"}, "ari.password"),
        ({"ari__url": "http://10.0.0.5:8088"}, "ari.url"),
        ({"ami__host": "10.0.0.5"}, "ami.host"),
        ({"asterisk__rtp_end": 29000}, "asterisk.rtp_end"),
    ],
)
def test_given_a_setting_asterisk_cannot_take_when_rendered_then_the_error_names_it(changes, names):
    with pytest.raises(RenderError, match=names):
        engine_values(config(**changes))


def test_given_no_ari_password_when_rendered_then_the_error_names_the_setting_and_variable():
    raw = {key: dict(value) for key, value in ENGINE.items()}
    del raw["ari"]["password"]
    with pytest.raises(RenderError, match="ari.password.*PBX_ENGINE_ARI_PASSWORD"):
        engine_values(parse_config(raw, "engine.toml", environ={}))


def test_given_a_runtime_folder_when_written_then_asterisks_folders_exist(tmp_path):
    data = tmp_path / "data"
    (data / "sounds" / "en").mkdir(parents=True)
    (data / "sounds" / "en" / "beep.gsm").write_bytes(b"x")
    write_runtime(tmp_path / "run", {"a.conf": "x = 1\n"}, data_dir=data)
    for sub in RUNTIME_FOLDERS:
        assert (tmp_path / "run" / sub).is_dir(), sub
    assert (tmp_path / "run" / "spool" / "recording").is_dir()
    assert (tmp_path / "run" / "etc" / "a.conf").read_text() == "x = 1\n"
    assert (tmp_path / "run" / "sounds" / "moh" / "beep.gsm").exists()


def test_given_the_render_command_when_run_then_it_writes_the_folder(tmp_path, capsys):
    path = tmp_path / "engine.toml"
    agents = tmp_path / "agents.conf"
    agents.write_text("[agent-001](agent-endpoint)\n")
    path.write_text(
        '[ari]\nurl = "http://127.0.0.1:8090"\nusername = "e"\npassword = "Ari-pass-of-test"\n'
        f'[asterisk]\ntrunk_host = "192.0.2.1"\nagents_file = "{agents}"\n'
    )
    assert main(["asterisk", "render", "--config", str(path), "--out", str(tmp_path / "a")]) == 0
    assert "asterisk -C" in capsys.readouterr().out
    assert "bindport = 8090" in (tmp_path / "a" / "etc" / "http.conf").read_text()
    assert "[agent-001](agent-endpoint)" in (tmp_path / "a" / "etc" / "pjsip.conf").read_text()


def test_given_no_trunk_when_the_render_command_runs_then_one_line_names_the_setting(
    tmp_path, capsys
):
    path = tmp_path / "engine.toml"
    path.write_text('[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\npassword = "Ar-p-x1"\n')
    assert main(["asterisk", "render", "--config", str(path), "--out", str(tmp_path / "a")]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["asterisk.trunk_host: required: the carrier's SIP address"]


DOCKER = Path(__file__).parents[2] / "docker"


@pytest.mark.parametrize(("node", "port", "name"), [(None, 8091, "asterisk"), ("m2", 8092, "m2")])
def test_given_the_container_entrypoint_when_run_then_it_renders_with_the_engines_command(
    tmp_path, node, port, name
):
    """The image's entrypoint, run as it is with a stand-in `asterisk`: the folder it starts
    Asterisk on is the one `pbx-engine asterisk render` wrote from the mounted engine.toml, for
    [ari]'s own node, or for the media node PBX_ENGINE_NODE names (a cluster's host)."""
    import os
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "asterisk"
    stand_in.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/asterisk-args\n')
    stand_in.chmod(0o755)
    config = tmp_path / "engine.toml"
    config.write_text('[ari]\nurl = "http://127.0.0.1:8091"\nusername = "e"\n[asterisk]\n')
    config.write_text(config.read_text() + 'trunk_host = "192.0.2.7"\n')
    config.write_text(
        config.read_text() + '[[ari.nodes]]\nname = "m2"\nurl = "http://127.0.0.1:8092"\n'
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o755)
    environ = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PBX_ENGINE_CONFIG": str(config),
        "RUN_DIR": str(run_dir),
        "PBX_ENGINE_ARI_PASSWORD": "Ari-pass-of-the-entrypoint",
        "PBX_ENGINE_NODE": node or "",
    }
    done = subprocess.run(
        ["sh", DOCKER / "asterisk" / "entrypoint.sh"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"-C {run_dir}/etc/asterisk.conf -f" in (tmp_path / "asterisk-args").read_text()
    assert f"bindport = {port}" in (run_dir / "etc" / "http.conf").read_text()
    assert f"systemname = {name}" in (run_dir / "etc" / "asterisk.conf").read_text()
    assert (run_dir / "spool" / "recording").is_dir()


def test_given_the_compose_file_then_asterisk_gets_the_engines_config_and_secrets():
    import yaml

    asterisk = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["asterisk"]
    mounts = [v for v in asterisk["volumes"] if isinstance(v, dict)]
    assert [(m["source"], m["target"], m["read_only"]) for m in mounts] == [
        ("./config", "/etc/pbx-engine", True)
    ]
    assert {"PBX_ENGINE_ARI_PASSWORD", "PBX_ENGINE_AMI_SECRET"} <= set(asterisk["environment"])
    dockerfile = (DOCKER / "asterisk" / "Dockerfile").read_text()
    assert "COPY asterisk-config" in dockerfile and "COPY dialplans" in dockerfile
    assert "sed " not in (DOCKER / "asterisk" / "entrypoint.sh").read_text()


NODES = [
    {"name": "m2", "url": "https://10.0.0.12:8089"},
    {"name": "m3", "url": "https://[fd00::13]:8089"},
    {"name": "m4", "url": "http://10.0.0.14:8088"},
]


def test_a_node_on_another_host_serves_ari_over_tls_on_its_address_and_keeps_loopback():
    settings = config(
        ari__nodes=NODES,
        asterisk__tls_certificate="/etc/pbx/ari.pem",
        asterisk__tls_private_key="/etc/pbx/ari.key",
    )
    m2 = render_profile("engine", engine_values(settings, node="m2"))
    http = m2["http.conf"]
    assert "bindaddr = 127.0.0.1\nbindport = 8089" in http  # tools on the node
    assert "tlsenable = yes\ntlsbindaddr = 10.0.0.12:8089" in http
    assert "tlscertfile = /etc/pbx/ari.pem\ntlsprivatekey = /etc/pbx/ari.key" in http
    assert "systemname = m2" in m2["asterisk.conf"]
    m3 = engine_values(settings, node="m3")
    assert "tlsbindaddr = [fd00::13]:8089" in m3["HTTP_TLS"]
    own = engine_values(settings)  # [ari]'s own node, on loopback: as before
    assert own["HTTP_TLS"] == "" and own["SYSTEM_NAME"] == "asterisk"


@pytest.mark.parametrize(
    ("nodes", "tls", "node", "names"),
    [
        (NODES, {}, "m2", "asterisk.tls_certificate: required"),
        (NODES, {"asterisk__tls_certificate": "/c.pem"}, "m4", "ari.nodes 'm4' url"),
        (NODES, {"asterisk__tls_certificate": "/c.pem"}, "m9", "--node m9: no such node"),
        (
            [{"name": "m2", "url": "https://m2.example.internal:8089"}],
            {"asterisk__tls_certificate": "/c.pem"},
            "m2",
            "is a name: give the node's address",
        ),
        (
            [{"name": "m2", "url": "https://127.0.0.1:8089"}],
            {"asterisk__tls_certificate": "/c.pem"},
            "m2",
            "the address the engine reaches",
        ),
    ],
)
def test_a_node_rendered_without_what_tls_needs_is_refused_naming_the_setting(
    nodes, tls, node, names
):
    with pytest.raises(RenderError, match=re.escape(names)):
        engine_values(config(ari__nodes=nodes, **tls), node=node)


@pytest.mark.parametrize(
    ("path", "problem"),
    [("ari.pem", "full path as the Asterisk nodes see it"), ("/c;x.pem", "holds ; [ ]")],
)
def test_a_certificate_path_asterisk_cannot_read_is_refused(path, problem):
    with pytest.raises(Exception, match=re.escape(problem)):
        config(asterisk__tls_certificate=path)
