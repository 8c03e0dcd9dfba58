"""Writing a runtime folder for Asterisk: the rendered `etc/` and the folders it writes to."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pbx_engine.asterisk_config.templates import RenderError

# Asterisk fails at the first use of a folder it lacks, not at start: without spool/recording
# the first ARI recording (`POST /channels/{id}/record`) is a 500 "No such file or directory".
RUNTIME_FOLDERS = (
    "etc",
    "lib/keys",
    "spool/recording",
    "spool/outgoing",
    "run",
    "log",
    "agi-bin",
    "sounds/moh",
    "recordings",
)


def make_runtime_folders(run_dir: Path) -> None:
    for sub in RUNTIME_FOLDERS:
        (run_dir / sub).mkdir(parents=True, exist_ok=True)


def _seed_hold_music(run_dir: Path, data_dir: Path) -> None:
    """Music on hold plays the files in sounds/moh; with none, held calls hear silence."""
    moh = run_dir / "sounds" / "moh"
    if any(moh.iterdir()):
        return
    for beep in sorted((data_dir / "sounds" / "en").glob("beep.*")):
        shutil.copy(beep, moh / beep.name)


def _hand_over(run_dir: Path, owner: str) -> None:
    try:
        shutil.chown(run_dir, owner, owner)
        for root, dirs, files in os.walk(run_dir):
            for name in (*dirs, *files):
                shutil.chown(os.path.join(root, name), owner, owner)
    except (LookupError, PermissionError) as error:
        raise RenderError(f"cannot give {run_dir} to {owner!r}: {error}") from None


def write_runtime(
    run_dir: Path, files: dict[str, str], *, data_dir: Path | None = None, owner: str | None = None
) -> list[Path]:
    """Write `files` (name -> text) into run_dir/etc, make the folders Asterisk writes to, seed
    hold music from `data_dir`, and hand everything to `owner` (a user and group name) when
    given. Returns the files written."""
    try:
        make_runtime_folders(run_dir)
        written = []
        for name, text in sorted(files.items()):
            path = run_dir / "etc" / name
            path.write_text(text, encoding="utf-8")
            # Secrets (ARI, AMI, agents' passwords) are in here: not for other users.
            path.chmod(0o640)
            written.append(path)
        if data_dir is not None:
            _seed_hold_music(run_dir, data_dir)
    except OSError as error:
        raise RenderError(f"{run_dir}: cannot write: {error.strerror or error}") from None
    if owner is not None:
        _hand_over(run_dir, owner)
    return written
