"""An operator edits the dialplan of a running Asterisk (started from `pbx-engine asterisk
render`'s output): a typo is reported by `check-config --dialplan` and `asterisk reload` with
the operator's file and line, and the reload changes nothing; a good edit goes live."""

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pbx_engine.lab.sandbox import process as processes
from tests.integration.test_asterisk_render import (  # noqa: F401 (a fixture)
    cli,
    engine_toml,
    rendered_asterisk,
)
from tests.integration.waiting import eventually

DIALPLANS = Path(__file__).resolve().parents[2] / "dialplans"
TRUNK_LINE = "exten => _+X.,1,Goto(inbound,s,1)"


async def pbx_engine(*args: str | Path, dialplans: Path) -> subprocess.CompletedProcess:
    """The command as an operator runs it, with the dialplans folder moved by its variable."""
    env = {**os.environ, "PBX_ENGINE_DIALPLANS_DIR": str(dialplans)}
    command = [sys.executable, "-m", "pbx_engine.cli", *map(str, args)]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=120, env=env
    )


def edited_dialplans(folder: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of dialplans/ with `old` replaced by `new` in engine.conf; the line it is on."""
    shutil.copytree(DIALPLANS, folder)
    engine = folder / "engine.conf"
    text = engine.read_text()
    assert old in text
    engine.write_text(text.replace(old, new, 1))
    return engine, text[: text.index(old)].count("\n") + 1


async def booted(run_dir: Path) -> None:
    async def answers() -> bool:
        try:
            return "fully booted" in (await cli(run_dir, "core waitfullybooted")).lower()
        except processes.SandboxError:
            return False

    await eventually(answers, timeout=30, what="the rendered Asterisk to boot")


async def test_given_a_typo_when_checked_and_reloaded_then_its_line_is_named_and_nothing_changes(
    rendered_asterisk,  # noqa: F811 (the fixture)
    tmp_path,
):
    config, run_dir = rendered_asterisk
    await booted(run_dir)
    broken, line = edited_dialplans(tmp_path / "dialplans", TRUNK_LINE, TRUNK_LINE[:-1])
    live_before = (run_dir / "etc" / "dialplan.conf").read_bytes()

    checked = await pbx_engine("check-config", config, "--dialplan", dialplans=broken.parent)
    reload = await pbx_engine("asterisk", "reload", "--config", config, dialplans=broken.parent)

    expected = f"{broken}:{line}: No closing parenthesis found? 'Goto(inbound,s,1'"
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert expected in checked.stderr.splitlines()
    assert reload.returncode == 1, reload.stdout + reload.stderr
    assert expected in reload.stderr
    assert "nothing changed" in reload.stderr
    assert (run_dir / "etc" / "dialplan.conf").read_bytes() == live_before
    assert "_+X." in await cli(run_dir, "dialplan show from-pstn")


async def test_given_a_good_edit_when_reloaded_then_the_running_asterisk_has_it(
    rendered_asterisk,  # noqa: F811 (the fixture)
    tmp_path,
):
    config, run_dir = rendered_asterisk
    await booted(run_dir)
    assert "*77" not in await cli(run_dir, "dialplan show from-agents")
    edited, _ = edited_dialplans(
        tmp_path / "dialplans",
        "exten => *43,1,Goto(echo-test,s,1)",
        "exten => *43,1,Goto(echo-test,s,1)\nexten => *77,1,Goto(echo-test,s,1)",
    )

    checked = await pbx_engine("check-config", config, "--dialplan", dialplans=edited.parent)
    reload = await pbx_engine("asterisk", "reload", "--config", config, dialplans=edited.parent)

    assert checked.returncode == 0, checked.stderr
    assert "context(s) loaded by Asterisk" in checked.stdout
    assert reload.returncode == 0, reload.stderr
    assert "Dialplan reloaded" in reload.stdout
    assert "'*77' =>" in await cli(run_dir, "dialplan show from-agents")
    assert (run_dir / "etc" / "dialplan.conf").read_text() == edited.read_text()
    if os.geteuid() == 0:
        owner = (run_dir / "etc").stat().st_uid
        assert (run_dir / "etc" / "dialplan.conf").stat().st_uid == owner


async def test_given_a_context_the_engine_uses_is_renamed_when_checked_then_it_is_named(tmp_path):
    config = tmp_path / "engine.toml"
    config.write_text(engine_toml(tmp_path / "run"))
    renamed, _ = edited_dialplans(tmp_path / "dialplans", "[from-pstn]", "[from-carrier]")

    checked = await pbx_engine("check-config", config, "--dialplan", dialplans=renamed.parent)

    assert checked.returncode == 1
    assert "no context [from-pstn]: endpoint [pstn]" in checked.stderr
    assert "asterisk-config/engine/pjsip.conf:" in checked.stderr


async def test_given_no_asterisk_runs_there_when_reloaded_then_nothing_is_written(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "etc").mkdir(parents=True)
    config = tmp_path / "engine.toml"
    config.write_text(engine_toml(run_dir))

    reload = await pbx_engine("asterisk", "reload", "--config", config, dialplans=DIALPLANS)

    assert reload.returncode == 1
    assert "no Asterisk answers there: nothing changed" in reload.stderr
    assert list((run_dir / "etc").iterdir()) == []
