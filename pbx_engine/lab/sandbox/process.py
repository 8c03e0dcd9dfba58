"""Child processes of the sandboxes: found on PATH with a clear error, run in a process group of
their own, always ended, and killed at interpreter exit if a test run dies before its clean-up.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from pbx_engine.lab.sandbox.errors import SandboxError
from pbx_engine.lab.sandbox.ports import free_port

log = structlog.get_logger(__name__)

# pid -> what it is, and folders to remove, for the atexit clean-up below. A registry at module
# level is the one place atexit can reach; sandboxes add and remove their own entries.
_CHILDREN: dict[int, str] = {}
_FOLDERS: set[Path] = set()


def _parent_death_signal() -> Callable[[], None] | None:
    """On Linux, a child that gets SIGKILL when its parent dies: atexit cannot run when the test
    runner itself is killed (a CI timeout), and Asterisk in its own session would live on."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # Resolved here, in the parent: the child between fork and exec only makes one call.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def die_with_parent() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL)

    return die_with_parent


# preexec_fn for the sandboxes' long-lived children (None where unsupported).
DIE_WITH_PARENT = _parent_death_signal()


def require_binary(name: str, *, package: str) -> str:
    """The full path of `name`, or a SandboxError saying which package provides it."""
    path = shutil.which(name)
    if path is None:
        raise SandboxError(
            f"{name!r} not found on PATH: install the Debian package {package} "
            "(scripts/setup.sh does)"
        )
    return path


def track(process: asyncio.subprocess.Process, what: str) -> None:
    _CHILDREN[process.pid] = what


def untrack(process: asyncio.subprocess.Process) -> None:
    _CHILDREN.pop(process.pid, None)


def remove_at_exit(folder: Path) -> None:
    _FOLDERS.add(folder)


def forget_folder(folder: Path) -> None:
    _FOLDERS.discard(folder)


async def launch(
    args: Sequence[str],
    *,
    what: str,
    log_file: Path,
    stdin: int = asyncio.subprocess.DEVNULL,
) -> asyncio.subprocess.Process:
    """Start a long-lived child: its output (stdout and stderr) into `log_file`, in a process
    group of its own (ending it never signals the test runner), killed if this process dies, and
    tracked as `what` for the clean-up at exit. No shell: arguments go as they are."""
    with open(log_file, "wb") as output:  # noqa: ASYNC230 (local file, instant)
        process = await asyncio.create_subprocess_exec(
            *args,
            stdin=stdin,
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
    track(process, what)
    return process


async def wait_listening(
    process: asyncio.subprocess.Process,
    host: str,
    port: int,
    *,
    what: str,
    timeout: float,
    log_file: Path,
) -> None:
    """Until `process` accepts TCP connections on host:port; a SandboxError with its log's end
    if it exits first or is not listening within `timeout` seconds."""

    def tail() -> str:
        return log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if process.returncode is not None:
            raise SandboxError(f"{what} exited at once: {tail()}")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise SandboxError(
                    f"{what} not listening on {host}:{port} within {timeout:.0f} s: {tail()}"
                ) from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


_PORT_ATTEMPTS = 3


async def launch_on_free_port(
    command: Callable[[int], Sequence[str]],
    *,
    host: str,
    what: str,
    log_file: Path,
    timeout: float,
    prepare: Callable[[int], None] | None = None,
) -> tuple[asyncio.subprocess.Process, int]:
    """Start a server on a port free now (`command(port)`, after `prepare(port)` writes what
    it needs, a config file) and wait until it listens. The port can be taken between its
    choice and the server's bind (an outgoing connection's ephemeral port), and the server
    then exits at once: such a start is tried again on a fresh port."""
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port(host)
        if prepare is not None:
            prepare(port)
        process = await launch(command(port), what=what, log_file=log_file)
        try:
            await wait_listening(process, host, port, what=what, timeout=timeout, log_file=log_file)
        except SandboxError as error:
            await end(process, what, grace=2)
            if "exited at once" not in str(error) or attempt == _PORT_ATTEMPTS:
                raise
            log.warning("sandbox.start_retried", what=what, port=port, attempt=attempt)
        except BaseException:
            await end(process, what, grace=2)
            raise
        else:
            return process, port
    raise AssertionError("unreachable")


async def end(
    process: asyncio.subprocess.Process,
    what: str,
    *,
    grace: float = 5.0,
    hard: bool = False,
) -> int | None:
    """End `process` and its group: SIGTERM, then SIGKILL after `grace` seconds (at once when
    `hard`). Returns its exit code (None if it would not die, which the log reports)."""
    try:
        if process.returncode is None:
            steps = [(signal.SIGKILL, 5.0)]
            if not hard:
                steps.insert(0, (signal.SIGTERM, grace))
            for sig, wait in steps:
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    await asyncio.wait_for(process.wait(), wait)
                    break
                except TimeoutError:
                    log.warning("sandbox.process_slow_to_die", what=what, signal=sig.name)
        else:
            # The leader exited by itself; children it left in the group go too.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return process.returncode
    finally:
        untrack(process)


async def run(
    args: Sequence[str],
    *,
    what: str,
    timeout: float = 30.0,
    cwd: Path | None = None,
    input: bytes | None = None,
) -> str:
    """Run a short command to completion (`input` on its standard input); its output (stdout
    and stderr) on success, else a SandboxError with the output's end. No shell: arguments go
    to the program as they are."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL if input is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(input), timeout)
    except TimeoutError:
        await end(process, what, hard=True)
        raise SandboxError(f"{what} did not finish within {timeout:.0f} s") from None
    except BaseException:
        await end(process, what, hard=True)
        raise
    text = output.decode(errors="replace")
    if process.returncode != 0:
        raise SandboxError(f"{what} failed (exit {process.returncode}): {text.strip()[-800:]}")
    return text


async def self_signed_certificate(folder: Path, host: str, *, what: str) -> tuple[Path, Path]:
    """A certificate for `host` (an IP address) and its key, made in `folder`: (cert, key).
    The certificate is also the CA a client must trust to reach the server."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    await run(
        [
            require_binary("openssl", package="openssl"),
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={host}", "-addext", f"subjectAltName=IP:{host}",
            "-keyout", str(key), "-out", str(cert),
        ],
        what=f"openssl ({what}'s certificate)",
    )  # fmt: skip
    return cert, key


@atexit.register
def _kill_strays() -> None:
    # A test run that dies without its fixtures' finalisers still leaves no process behind.
    for pid in list(_CHILDREN):
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _CHILDREN.clear()
    for folder in list(_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)
    _FOLDERS.clear()
