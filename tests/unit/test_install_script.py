"""scripts/install.sh under DESTDIR, without the virtual environment (tests/integration/
test_install.py makes one): where everything goes, with which modes, the units naming what was
put there, a config that passes check-config, and a second run that keeps the operator's edits."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from pbx_engine.cli import main

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "install.sh"
PREFIX = "/opt/pbx-engine"
ETC = "/etc/pbx-engine"
UNITS = "/etc/systemd/system"
SECRETS = (
    "PBX_ENGINE_DATABASE_PASSWORD",
    "PBX_ENGINE_ARI_PASSWORD",
    "PBX_ENGINE_AMI_SECRET",
    "PBX_ENGINE_HTTP_SECRET",
)


def install(destdir: Path, **environ: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DESTDIR": str(destdir), "PBX_ENGINE_INSTALL_SKIP_VENV": "1", **environ}
    return subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, env=env
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    destdir = tmp_path_factory.mktemp("destdir")
    result = install(destdir)
    assert result.returncode == 0, result.stderr
    return destdir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def unit_directives(path: Path) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            directives.setdefault(key, []).append(value)
    return directives


def under(destdir: Path, path: str) -> Path:
    return destdir / path.lstrip("/")


def test_given_destdir_when_installing_then_every_file_is_in_place_with_its_mode(staged):
    etc = under(staged, ETC)
    assert mode(etc) == 0o750
    assert mode(etc / "secrets.env") == 0o600
    assert mode(etc / "agents.conf") == 0o600  # softphones' passwords
    assert mode(etc / "engine.toml") == 0o640
    assert mode(etc / "numbers.toml") == 0o640
    assert (etc / "campaigns" / "first.toml").is_file()
    assert mode(under(staged, "/usr/local/bin/pbx-engine")) == 0o755
    for unit in ("pbx-engine.service", "pbx-asterisk.service"):
        assert mode(under(staged, f"{UNITS}/{unit}")) == 0o644
    tree = under(staged, PREFIX)
    for item in ("pyproject.toml", "pbx_engine/cli.py", "sql", "asterisk-config", "dialplans"):
        assert (tree / item).exists(), item
    assert not (tree / "pbx_engine" / "lab").exists()  # as in the container image
    assert not list(tree.rglob("__pycache__"))
    writable = [p for p in tree.rglob("*") if not p.is_symlink() and mode(p) & 0o022]
    assert writable == [], "the services run this code: only its owner may change it"


def test_given_destdir_then_the_machine_is_left_alone_and_its_steps_are_written_down(staged):
    steps = (staged / "pbx-engine-system-steps.txt").read_text().splitlines()
    assert any(re.match(r"useradd --system .*pbx-engine$", step) for step in steps), steps
    assert f"chown root:pbx-engine {ETC}" in steps
    assert "systemctl daemon-reload" in steps
    passwd = subprocess.run(["getent", "passwd", "pbx-engine"], capture_output=True)
    assert passwd.returncode != 0, "a user was made on the machine"


def test_the_secrets_are_random_and_each_its_own(staged, tmp_path):
    first = read_env_file(under(staged, f"{ETC}/secrets.env"))
    assert set(first) == set(SECRETS)
    assert len(set(first.values())) == len(SECRETS)
    assert all(re.fullmatch(r"[0-9a-f]{48,}", value) for value in first.values())
    assert len(first["PBX_ENGINE_HTTP_SECRET"]) >= 64  # 32 bytes or more
    assert install(tmp_path).returncode == 0
    second = read_env_file(under(tmp_path, f"{ETC}/secrets.env"))
    assert set(first.values()).isdisjoint(second.values())


def test_the_units_and_the_command_name_what_was_installed(staged):
    engine = unit_directives(under(staged, f"{UNITS}/pbx-engine.service"))
    asterisk = unit_directives(under(staged, f"{UNITS}/pbx-asterisk.service"))
    program = f"{PREFIX}/.venv/bin/pbx-engine"
    config = f"{ETC}/engine.toml"
    assert engine["ExecStartPre"] == [f"{program} check-config {config}"]
    assert engine["ExecStart"] == [f"{program} run --config {config}"]
    assert engine["User"] == ["pbx-engine"]
    for unit in (engine, asterisk):
        assert unit["EnvironmentFile"] == [f"{ETC}/secrets.env"]
        for setting in unit["Environment"]:
            name, folder = setting.split("=", 1)
            if name.endswith("_DIR"):
                assert folder.startswith(PREFIX + "/") and under(staged, folder).is_dir(), setting
    assert under(staged, config).is_file() and under(staged, f"{ETC}/secrets.env").is_file()

    (render,) = asterisk["ExecStartPre"]
    assert shlex.split(render)[:5] == [program, "asterisk", "render", "--config", config]
    run_dir = tomllib.loads(under(staged, config).read_text())["asterisk"]["run_dir"]
    start = shlex.split(asterisk["ExecStart"][0])
    assert start[start.index("-C") + 1] == f"{run_dir}/etc/asterisk.conf"

    command = under(staged, "/usr/local/bin/pbx-engine").read_text()
    assert f"exec {program} " in command and f"{ETC}/secrets.env" in command
    for name in ("SQL", "ASTERISK_CONFIG", "DIALPLANS"):
        (wrapper,) = re.findall(rf"PBX_ENGINE_{name}_DIR:-([^}}]+)}}", command)
        assert f"PBX_ENGINE_{name}_DIR={wrapper}" in engine["Environment"] + asterisk["Environment"]


def test_the_installed_config_passes_check_config(staged, tmp_path, monkeypatch, capsys):
    # The file names /etc/pbx-engine/...: read here, they are the staged ones.
    etc = under(staged, ETC)
    text = (etc / "engine.toml").read_text().replace(f"{ETC}/", f"{etc}/")
    config = tmp_path / "engine.toml"
    config.write_text(text)
    for name, value in read_env_file(etc / "secrets.env").items():
        monkeypatch.setenv(name, value)
    assert main(["check-config", str(config)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "campaign first (preview)" in out
    assert tomllib.loads(text)["asterisk"]["agents_file"] == f"{etc}/agents.conf"


def test_given_an_edited_config_when_installing_again_then_the_edits_stay(tmp_path):
    assert install(tmp_path).returncode == 0
    etc = under(tmp_path, ETC)
    edited = {
        etc / "engine.toml": (etc / "engine.toml").read_text() + '\n# trunk: "198.51.100.7"\n',
        etc / "numbers.toml": "# my pools\n",
        etc / "agents.conf": "; anna's phone\n",
        etc / "secrets.env": "PBX_ENGINE_ARI_PASSWORD=mine-and-nobody-elses-0123\n",
    }
    for path, text in edited.items():
        path.write_text(text)
    (etc / "campaigns" / "first.toml").unlink()
    (etc / "campaigns" / "acme.toml").write_text('name = "acme"\n')

    again = install(tmp_path)
    assert again.returncode == 0, again.stderr
    for path, text in edited.items():
        assert path.read_text() == text, path
    assert mode(etc / "secrets.env") == 0o600
    assert sorted(p.name for p in (etc / "campaigns").iterdir()) == ["acme.toml"]
    assert f"keeping {etc}/secrets.env" in again.stderr


def fake_bin(tmp_path: Path, name: str, script: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return folder


def test_given_no_root_and_no_destdir_then_one_line_says_so(tmp_path):
    folder = fake_bin(tmp_path, "id", "echo 1000\n")
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "DESTDIR": "", "PATH": f"{folder}:{os.environ['PATH']}"},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "run it as root, or with DESTDIR=" in result.stderr


def test_given_python_without_venv_then_one_line_names_the_package(tmp_path):
    # Debian's python3 without python3-venv: `import ensurepip` fails.
    folder = fake_bin(
        tmp_path, "python3-no-venv", 'case "$*" in *ensurepip*) exit 1 ;; esac\nexec python3 "$@"\n'
    )
    result = install(
        tmp_path / "destdir",
        PBX_ENGINE_INSTALL_SKIP_VENV="0",
        PYTHON=str(folder / "python3-no-venv"),
    )
    assert result.returncode == 1
    expected = "[install] error: python3-venv is missing: apt-get install python3-venv\n"
    assert result.stderr == expected
    assert not (tmp_path / "destdir").exists()  # refused before writing anything


def test_systemd_analyze_verifies_the_asterisk_unit_without_a_warning(staged, tmp_path):
    # pbx-engine.service is verified in tests/security/test_deployment.py. No skip: Debian's
    # systemd package (setup.sh) brings systemd-analyze.
    unit = tmp_path / "pbx-asterisk.service"
    text = under(staged, f"{UNITS}/pbx-asterisk.service").read_text()
    unit.write_text(text.replace(f"{PREFIX}/.venv/bin/pbx-engine", "/bin/true"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr.strip()) == (0, "")


# ----------------------------------------------------------------------------- the README's steps


def readme_steps() -> list[str]:
    """The shell lines of the README's "Running it for real" (continuations joined): its code
    blocks, indented four beyond the text of the list item they are in."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running it for real", 1)[1].split("\n## ", 1)[0]
    lines, pending, item_indent, in_code, after_blank = [], "", 0, False, True
    for line in section.splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            after_blank = True
            continue
        if item := re.match(r"\d+\. ", line):
            item_indent, in_code = len(item.group()), False
        elif indent == 0:
            item_indent, in_code = 0, False
        elif indent >= item_indent + 4 and (in_code or after_blank):
            in_code = True
            pending += line.strip()
            if pending.endswith("\\"):
                pending = pending[:-1]
            else:
                lines.append(pending)
                pending = ""
        else:
            in_code = False
        after_blank = False
    return lines


def test_every_pbx_engine_command_in_the_readme_steps_parses(monkeypatch):
    from pbx_engine.cli import build_parser

    commands = [line for line in readme_steps() if line.startswith("pbx-engine ")]
    assert len(commands) >= 8, commands
    for line in commands:
        args = shlex.split(line, comments=True)[1:]
        try:
            build_parser().parse_args(args)
        except SystemExit:
            pytest.fail(f"the README's `{line}` does not parse")


def test_the_readme_steps_name_what_the_script_installs(staged):
    steps = "\n".join(readme_steps())
    for unit in re.findall(r"systemctl enable --now (\S+)", steps):
        assert under(staged, f"{UNITS}/{unit}.service").is_file(), unit
    for path in set(re.findall(r"(/(?:opt|etc)/pbx-engine/[\w./-]+)", steps)):
        assert under(staged, path).exists(), path
    run_dir = tomllib.loads(under(staged, f"{ETC}/engine.toml").read_text())["asterisk"]["run_dir"]
    assert f"--out {run_dir} --owner asterisk" in steps
    assert f"asterisk -C {run_dir}/etc/asterisk.conf" in steps


def heredoc(text: str, marker: str) -> list[str]:
    body = text.split(f"<<'{marker}'\n", 1)[1]
    lines = [line.strip() for line in body.splitlines()]
    return lines[: lines.index(marker)]


def test_the_readme_takes_asterisk_from_debian_11_as_setup_sh_does():
    readme = (ROOT / "README.md").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert heredoc(readme, "PINS") == heredoc(setup, "PINS")
    assert set(heredoc(readme, "LIST")) <= set(heredoc(setup, "LIST"))
    assert any("bullseye-security" in line for line in heredoc(readme, "LIST"))


def test_the_command_takes_the_secrets_file_as_systemd_reads_it(staged, tmp_path):
    # The installed command, its /opt and /etc pointed here; the engine a program printing its
    # environment.
    venv_bin = tmp_path / "opt" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "pbx-engine").write_text('#!/bin/sh\necho "$@"\nenv\n')
    (venv_bin / "pbx-engine").chmod(0o755)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "secrets.env").write_text(
        "# a comment\n"
        "PBX_ENGINE_ARI_PASSWORD=plain-0123\n"
        'PBX_ENGINE_AMI_SECRET="quoted-4567"\n'
        "PBX_ENGINE_DATABASE_PASSWORD=from-the-file\n"
        "NOT_OURS=leaked\n"
    )
    text = under(staged, "/usr/local/bin/pbx-engine").read_text()
    command = tmp_path / "pbx-engine"
    command.write_text(
        text.replace(PREFIX, str(tmp_path / "opt")).replace(ETC, str(tmp_path / "etc"))
    )
    command.chmod(0o755)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PBX_ENGINE_")}
    env["PBX_ENGINE_DATABASE_PASSWORD"] = "from-the-shell"
    result = subprocess.run(
        [str(command), "migrate", "--config", "x y.toml"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "migrate --config x y.toml"
    assert "PBX_ENGINE_ARI_PASSWORD=plain-0123" in lines
    assert "PBX_ENGINE_AMI_SECRET=quoted-4567" in lines
    assert "PBX_ENGINE_DATABASE_PASSWORD=from-the-shell" in lines  # what is set wins
    assert "PBX_ENGINE_SQL_DIR=" + str(tmp_path / "opt" / "sql") in lines
    assert not any(line.startswith("NOT_OURS") for line in lines)
