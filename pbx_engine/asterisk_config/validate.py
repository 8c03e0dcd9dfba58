"""The operator's dialplan, loaded into a throwaway Asterisk before it goes live
(`pbx-engine check-config --dialplan`, `pbx-engine asterisk reload`).

The profile is rendered as `pbx-engine asterisk render` renders it, into a temporary folder,
with a modules.conf of its own: pbx_config and the operator's application and function modules,
but no channel driver, SIP, RTP, ARI, HTTP or AMI, so it binds no port, registers to no
carrier and runs beside the live Asterisk. It boots in half a second to a second; Asterisk's
complaints (with file and line) and the engine's checks (checks.py) come back as Problems
naming the operator's templates.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pbx_engine.amd.detectors import MESSAGE_DROP_CONTEXT, Detector
from pbx_engine.asterisk_config import checks
from pbx_engine.asterisk_config.checks import Problem
from pbx_engine.asterisk_config.templates import profile_templates, render_profile
from pbx_engine.asterisk_config.tree import write_runtime
from pbx_engine.asterisk_config.users import hand_over, unprivileged_ids
from pbx_engine.config import ConfigError
from pbx_engine.resources import ASTERISK_CONFIG_DIR, DIALPLANS_DIR

PROFILE = "engine"
# The files the dialplan is made of (dialplan.conf is the profile's file from dialplans/).
DIALPLAN_FILES = ("extensions.conf", "dialplan.conf")
# Modules a throwaway never loads: they bind ports, talk to carriers or serve clients.
_NETWORK_MODULES = re.compile(
    r"^(chan_|res_pjsip|res_pjproject|res_ari|res_http|res_rtp|res_manager|res_hep|res_stasis_)"
)
_LOADED = re.compile(r"^\s*(?:load|require)\s*=>\s*(\S+\.so)\s*$", re.MULTILINE)
_CLI_TIMEOUT = 15.0


class ValidationUnavailable(ConfigError):
    """The throwaway Asterisk could not run (no asterisk binary, no user to run it as)."""


@dataclass(frozen=True)
class Validation:
    problems: list[Problem]
    seconds: float
    contexts: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems


def throwaway_modules(modules_conf: str) -> str:
    """A modules.conf loading only pbx_config and the operator's application and function
    modules (with what they need: timing, formats, bridges). `load`, never `require`: one
    that declines is logged, and Asterisk still boots to say what else is wrong."""
    wanted = [m for m in _LOADED.findall(modules_conf) if not _NETWORK_MODULES.match(m)]
    if "pbx_config.so" not in wanted:
        wanted.insert(0, "pbx_config.so")
    lines = "".join(f"load => {module}\n" for module in dict.fromkeys(wanted))
    return f"[modules]\nautoload = no\n{lines}"


def throwaway_files(files: Mapping[str, str]) -> dict[str, str]:
    """The rendered profile with modules.conf narrowed, HTTP and AMI off (the core serves them:
    off, they bind nothing), and a logger.conf whose `messages` has every warning and error
    (the operator's may log fewer, or elsewhere)."""
    narrowed = dict(files)
    narrowed["modules.conf"] = throwaway_modules(
        files.get("modules.conf", "") + files.get("modules-required.conf", "")
    )
    narrowed.pop("modules-required.conf", None)
    narrowed["http.conf"] = "[general]\nenabled = no\n"
    narrowed["manager.conf"] = "[general]\nenabled = no\n"
    narrowed["logger.conf"] = "[logfiles]\nmessages => warning,error\n"
    return narrowed


def wanted_contexts(
    files: Mapping[str, str], sources: Mapping[str, str], detectors: list[Detector]
) -> dict[str, str]:
    """context -> who sends calls there: the AMD detectors in use, the message drop, and the
    endpoints of pjsip.conf."""
    wanted = {d.context: f"the {d.name} detector" for d in detectors if d.context}
    wanted[MESSAGE_DROP_CONTEXT] = "the dialer's message drop"
    pjsip = files.get("pjsip.conf", "")
    wanted.update(checks.endpoint_contexts(pjsip, sources.get("pjsip.conf", "pjsip.conf")))
    return wanted


async def validate_dialplan(
    values: dict[str, str],
    *,
    ari_app: str,
    detectors: list[Detector],
    config_dir: Path = ASTERISK_CONFIG_DIR,
    dialplans_dir: Path = DIALPLANS_DIR,
    binary: str = "asterisk",
) -> Validation:
    """Render the profile (values as from engine_values, RUN_DIR replaced), load it into a
    throwaway Asterisk and return what is wrong, in the operator's files."""
    started = time.monotonic()
    path = shutil.which(binary)
    if path is None:
        raise ValidationUnavailable(
            f"{binary!r} not found on PATH: checking the dialplan needs Asterisk on this host"
        )
    sources_paths = profile_templates(PROFILE, config_dir, dialplans_dir)
    sources = {name: str(source) for name, source in sources_paths.items()}
    # Under /tmp, not $TMPDIR: the control socket's path must stay under 108 bytes, and the
    # asterisk user (when we are root) must be able to reach the folder.
    run_dir = Path(tempfile.mkdtemp(prefix="pbx-check-", dir="/tmp"))
    try:
        # Music on hold reads sounds/moh at load: the throwaway's own (empty) folder, not the
        # live one, which need not exist where the check runs.
        values = {**values, "RUN_DIR": str(run_dir), "SOUNDS_DIR": str(run_dir / "sounds")}
        files = render_profile(PROFILE, values, config_dir, dialplans_dir)
        write_runtime(run_dir, throwaway_files(files))
        loaded, applications, log_text = await _load(path, run_dir)
    except _NotBooted as failed:
        # What it logged says why (a module it could not load, a file it could not parse).
        logged = checks.logged_problems(failed.log_text)
        problems = checks.to_sources(logged, sources_paths, run_dir / "etc")
        problems.append(Problem(path, None, str(failed)))
        return Validation(problems, time.monotonic() - started)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    dialplan = checks.parse_dialplan(
        {sources[name]: files[name] for name in DIALPLAN_FILES if name in files}
    )
    logged = checks.logged_problems(log_text)
    problems = checks.to_sources(logged, sources_paths, run_dir / "etc")
    problems += checks.missing_contexts(
        loaded, wanted_contexts(files, sources, detectors), sources["dialplan.conf"]
    )
    problems += checks.stasis_app_problems(dialplan, ari_app)
    problems += checks.unknown_applications(dialplan, applications)
    problems += checks.jump_problems(dialplan, loaded)
    return Validation(problems, time.monotonic() - started, loaded)


async def _load(binary: str, run_dir: Path) -> tuple[set[str], set[str], str]:
    """Boot Asterisk on run_dir, read its contexts and applications, stop it; and its log."""
    conf = str(run_dir / "etc" / "asterisk.conf")
    ids = unprivileged_ids()
    if ids is not None:
        hand_over(run_dir, *ids)
    as_user = {"user": ids[0], "group": ids[1], "extra_groups": []} if ids else {}
    process = await asyncio.create_subprocess_exec(
        binary, "-C", conf, "-f", "-n", "-q",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
        **as_user,
    )  # fmt: skip
    messages = run_dir / "log" / "messages"
    try:
        try:
            await _wait_booted(binary, conf, process)
        except ValidationUnavailable as failed:
            log_text = messages.read_text(errors="replace") if messages.exists() else ""
            raise _NotBooted(str(failed), log_text) from None
        contexts = checks.shown_contexts(await cli(binary, conf, "dialplan show"))
        applications = checks.shown_applications(await cli(binary, conf, "core show applications"))
        # Fully booted, the loading's lines are written (the logger flushes each one); killed,
        # not stopped: `core stop now` takes most of a second and the folder is thrown away.
        log_text = messages.read_text(errors="replace") if messages.exists() else ""
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    return contexts, applications, log_text


async def _wait_booted(binary: str, conf: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + _CLI_TIMEOUT
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise ValidationUnavailable(
                f"the throwaway Asterisk exited (code {process.returncode}) while booting"
            )
        try:
            if "fully booted" in (await cli(binary, conf, "core waitfullybooted")).lower():
                return
        except AsteriskCliError:
            pass  # its control socket is not there yet
        await asyncio.sleep(0.05)
    raise ValidationUnavailable(f"the throwaway Asterisk did not boot within {_CLI_TIMEOUT:.0f} s")


class _NotBooted(Exception):
    def __init__(self, reason: str, log_text: str) -> None:
        super().__init__(reason)
        self.log_text = log_text


class AsteriskCliError(ConfigError):
    """`asterisk -rx` failed: Asterisk is not running there, or refused the command."""


async def cli(binary: str, conf: str, command: str, timeout: float = _CLI_TIMEOUT) -> str:
    """Run a CLI command on the Asterisk whose asterisk.conf is `conf` (its control socket);
    its output."""
    process = await asyncio.create_subprocess_exec(
        binary, "-C", conf, "-rx", command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AsteriskCliError(
            f"asterisk -rx {command!r} did not answer in {timeout:.0f} s"
        ) from None
    text = output.decode(errors="replace")
    # -rx exits 0 even when no Asterisk listens; it then says "Unable to connect".
    if process.returncode != 0 or "Unable to connect to remote asterisk" in text:
        raise AsteriskCliError(f"asterisk -C {conf} -rx {command!r}: {text.strip()[-300:]}")
    return text


class ReloadRefused(ConfigError):
    """The live Asterisk was left as it was; the message says why (file and line)."""


async def reload_dialplan(
    values: dict[str, str],
    run_dir: Path,
    *,
    ari_app: str,
    detectors: list[Detector],
    binary: str = "asterisk",
) -> tuple[Validation, str]:
    """Validate, then write the dialplan files into the live run_dir's etc/ and have its
    Asterisk reload them; (the validation, Asterisk's answer). Only extensions.conf and
    dialplan.conf are written: the others are not reloaded, and a file on disk that differs
    from what runs would surprise the next restart. Nothing is written when the validation
    fails or the live Asterisk does not answer (ReloadRefused)."""
    validation = await validate_dialplan(
        {**values, "RUN_DIR": str(run_dir)}, ari_app=ari_app, detectors=detectors, binary=binary
    )
    if not validation.ok:
        listed = "\n".join(str(problem) for problem in validation.problems)
        raise ReloadRefused(f"{listed}\nthe dialplan was not reloaded: nothing changed")
    conf = str(run_dir / "etc" / "asterisk.conf")
    try:
        await cli(binary, conf, "core waitfullybooted")
    except AsteriskCliError as error:
        raise ReloadRefused(f"{error}\nno Asterisk answers there: nothing changed") from None
    files = render_profile(PROFILE, {**values, "RUN_DIR": str(run_dir)})
    etc = run_dir / "etc"
    owner = etc.stat()
    written = write_runtime(run_dir, {name: files[name] for name in DIALPLAN_FILES})
    for path in written:
        # Asterisk (its own user) reads them: they keep the folder's owner.
        os.chown(path, owner.st_uid, owner.st_gid)
    return validation, await cli(binary, conf, "dialplan reload")


__all__ = [
    "ReloadRefused",
    "Validation",
    "ValidationUnavailable",
    "reload_dialplan",
    "validate_dialplan",
]
