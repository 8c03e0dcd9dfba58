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


def test_given_a_valid_file_when_checked_then_it_says_ok(capsys):
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert "ok" in capsys.readouterr().out


def test_given_a_typo_when_checked_then_it_exits_1_naming_the_key(tmp_path, capsys):
    path = tmp_path / "engine.toml"
    path.write_text(
        '[ari]\nurl = "http://127.0.0.1:8088"\nusername = "e"\n[dialer]\ntrunks = "x"\n'
    )
    assert main(["check-config", str(path)]) == 1
    assert "dialer.trunks: unknown key" in capsys.readouterr().err


def test_given_a_missing_file_when_run_then_it_exits_1_with_a_message(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "missing.toml")]) == 1
    assert "cannot read" in capsys.readouterr().err
