from pathlib import Path

import pytest
import structlog

from pbx_engine.cli import main


@pytest.fixture(autouse=True)
def _restore_logging():
    # main() points structlog at the captured stderr of the test; tests after it must not
    # inherit a stream pytest has closed.
    yield
    structlog.reset_defaults()


EXAMPLE = Path(__file__).parents[2] / "docker" / "engine.example.toml"


def test_given_a_valid_file_when_checked_then_it_says_ok(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PBX_ENGINE_ARI_PASSWORD", "Uq3-ari-password-of-the-test")
    monkeypatch.setenv("PBX_ENGINE_AMI_SECRET", "Uq3-ami-secret-of-the-test")
    # The example names files under /etc/pbx-engine: point them at the shipped examples.
    (tmp_path / "campaigns").mkdir()
    campaign = tmp_path / "campaigns" / "acme.toml"
    campaign.write_text('name = "acme"\ndial_mode = "predictive"\n')
    config = tmp_path / "engine.toml"
    config.write_text(
        EXAMPLE.read_text()
        .replace('"/etc/pbx-engine/campaigns/*.toml"', f'"{tmp_path}/campaigns/*.toml"')
        .replace('"/etc/pbx-engine/numbers.toml"', f'"{EXAMPLE.parent / "numbers.example.toml"}"')
    )
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "campaign acme (predictive)" in out
    assert "5 caller-ID number(s) in 3 pool(s)" in out


def test_given_a_config_naming_broken_files_when_checked_then_each_is_reported(tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('name = "bad"\ndial_mode = "robotic"\n')
    pools = tmp_path / "numbers.txt"
    pools.write_text("[[pool]]\nname = 'a'\nnumbers = [{ number = '12' }]\n")
    config = tmp_path / "engine.conf"
    config.write_text(
        f'campaign_files = ["{tmp_path}/*.toml", "{tmp_path}/missing/*.toml"]\n'
        f'number_pools_file = "{pools}"\n'
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n'
    )
    assert main(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "dial_mode" in err
    assert "missing/*.toml: no campaign file matches" in err
    assert "numbers.txt:3:" in err


def test_given_a_typo_when_checked_then_it_exits_1_naming_the_key(tmp_path, capsys):
    path = tmp_path / "engine.toml"
    path.write_text(
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n[dialer]\ntrunks = "x"\n'
    )
    assert main(["check-config", str(path)]) == 1
    assert "dialer.trunks (line 5): unknown key" in capsys.readouterr().err


def test_given_a_missing_file_when_run_then_it_exits_1_with_a_message(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err


def test_given_files_the_config_names_are_missing_when_run_then_it_stops_naming_them_before_connecting(  # noqa: E501
    tmp_path, capsys
):
    config = tmp_path / "engine.toml"
    config.write_text(
        f'campaign_files = ["{tmp_path}/campaigns/*.toml"]\n'
        f'number_pools_file = "{tmp_path}/numbers.toml"\n'
        # Nothing listens on port 1: a connection tried first would fail differently.
        '[ari]\nurl = "http://127.0.0.1:1"\nusername = "u"\npassword = "Some-password-123"\n'
        "[database]\nport = 1\n"
    )
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}/campaigns/*.toml: no campaign file matches" in err
    assert f"{tmp_path}/numbers.toml: cannot read" in err
    assert "PostgreSQL" not in err


def test_given_a_folder_without_a_corpus_when_evaluated_then_it_exits_1_saying_so(tmp_path, capsys):
    assert main(["amd", "evaluate", str(tmp_path)]) == 1
    assert "no human/ folder" in capsys.readouterr().err


def test_given_an_unknown_listener_setting_when_evaluated_then_it_exits_1_naming_it(
    tmp_path, capsys
):
    assert main(["amd", "evaluate", str(tmp_path), "--set", "patience=9"]) == 1
    assert "no listener setting 'patience'" in capsys.readouterr().err


def test_given_an_unknown_beep_setting_when_the_drop_is_evaluated_then_it_exits_1_naming_it(
    tmp_path, capsys
):
    assert main(["amd", "evaluate", str(tmp_path), "--drop", "--beep-set", "patience=9"]) == 1
    assert "no beep setting 'patience'" in capsys.readouterr().err


def test_given_a_broken_campaign_file_when_reloading_the_dialplan_then_nothing_changes(
    tmp_path, capsys
):
    (tmp_path / "bad.toml").write_text('name = "bad"\ndial_mode = "robotic"\n')
    config = tmp_path / "engine.toml"
    config.write_text(
        f'campaign_files = ["{tmp_path}/*.toml"]\n'
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n'
        f'[asterisk]\nrun_dir = "{tmp_path / "run"}"\ntrunk_host = "127.0.0.2"\n'
    )
    assert main(["asterisk", "reload", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bad.toml" in err and "nothing changed" in err
    assert not (tmp_path / "run").exists()


def test_given_an_agents_file_with_bad_lines_when_imported_then_each_line_is_named(
    tmp_path, capsys
):
    roster = tmp_path / "agents.csv"
    roster.write_text("login,name,endpoint\nanna,Anna,agent-1\npiotr,Piotr,agent;2\n,Nobody,\n")
    # The file is checked before the config is read: no database, no Asterisk needed.
    code = main(["agent", "import", str(roster), "--config", str(tmp_path / "none.toml")])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{roster}: nothing imported:" in err
    assert "line 3: endpoint name 'agent;2'" in err
    assert "line 4: no login" in err


def test_given_both_existing_and_no_endpoint_when_adding_then_the_parser_refuses(capsys):
    with pytest.raises(SystemExit):
        main(["agent", "add", "anna", "--existing-endpoint", "--no-endpoint", "--config", "x"])
    assert "not allowed with argument" in capsys.readouterr().err
