"""Free ports on loopback addresses.

A port the kernel reports free now may be taken by another process before the sandbox binds
it; the sandboxes therefore check again just before starting and, for ports they chose
themselves, retry once with fresh ones (PortInUse says which port it was).
"""

from __future__ import annotations

import random
import socket

from pbx_engine.lab.sandbox.errors import SandboxError


class PortInUse(SandboxError):
    """A port a sandbox needs is taken: "port 5060/udp on 127.0.0.1 is in use (engine SIP)"."""

    def __init__(self, host: str, port: int, proto: str, what: str = "") -> None:
        self.host = host
        self.port = port
        self.proto = proto
        suffix = f" ({what})" if what else ""
        super().__init__(f"port {port}/{proto} on {host} is in use{suffix}")


def _kind_name(kind: int) -> str:
    return "udp" if kind == socket.SOCK_DGRAM else "tcp"


def port_is_free(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            # As servers do: a port whose last connections linger in TIME_WAIT is still usable.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    """A port the kernel says is free now (another process may still take it before we do)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def distinct_free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different ports free now: all held at once while chosen, so none repeats."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# The ports at a block's start that a program binds as given, without looking further: SIPp
# binds its audio RTP and RTCP at -mp and its video pair just above, and exits if one is taken.
_BOUND_AS_GIVEN = 4


def free_udp_range(host: str, size: int, start: int = 20000, stop: int = 60000) -> int:
    """The first port of a block of `size` UDP ports that look free (its first four each, the
    rest sampled every 7th port), with an even start as RTP wants. Asterisk skips single busy
    ports within a block by itself; the block keeps parallel sandboxes mostly apart. The kernel
    may still give one away (as a socket's ephemeral port) before the program binds it."""
    first = start + (start % 2)
    blocks = (stop - first) // size
    # From a random block: two processes looking at the same moment (two suites, a demo
    # beside a suite) seldom pick the same block before either binds it.
    offset = random.randrange(blocks) if blocks > 0 else 0
    for index in range(blocks):
        port = first + ((offset + index) % blocks) * size
        wanted = {*range(port, port + min(size, _BOUND_AS_GIVEN)), *range(port, port + size, 7)}
        if all(port_is_free(host, p, socket.SOCK_DGRAM) for p in sorted(wanted)):
            return port
    raise SandboxError(f"no {size} free UDP ports between {start} and {stop} on {host}")


def require_free(host: str, port: int, kind: int, what: str) -> None:
    if not port_is_free(host, port, kind):
        raise PortInUse(host, port, _kind_name(kind), what)
