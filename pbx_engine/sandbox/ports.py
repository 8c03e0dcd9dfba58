"""Free ports on loopback addresses, checked for both TCP and UDP where a service needs both."""

from __future__ import annotations

import socket

from pbx_engine.sandbox.errors import SandboxError


def port_is_free(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
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


def free_udp_range(host: str, size: int, start: int = 20000, stop: int = 60000) -> int:
    """The first port of `size` consecutive free UDP ports (RTP wants an even start)."""
    port = start
    while port + size < stop:
        if all(port_is_free(host, p, socket.SOCK_DGRAM) for p in range(port, port + size, 7)):
            return port
        port += size
    raise SandboxError(f"no {size} free UDP ports between {start} and {stop} on {host}")


def require_free(host: str, port: int, kind: int, what: str) -> None:
    if not port_is_free(host, port, kind):
        proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
        raise SandboxError(f"port {port}/{proto} on {host} is in use ({what})")
