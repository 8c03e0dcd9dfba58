"""Test hosts in network namespaces: a server that sits behind links a test can cut.

A `TestHost` is a network namespace of its own (`ip netns`), reached from the machine over veth
pairs, one `Link` per client that should have its own path to it. Cutting a link takes its far
end down: the near end loses its carrier and packets are dropped without a word, as across a
partitioned network (no reset, no refusal: a client notices only by its own timeouts).

Only what the host makes is touched: its namespace, and veth pairs on a private range
(198.18.0.0/15, set aside for network tests) whose near ends appear on the machine while the
host lives. Nothing else on the machine (its interfaces, routes, forwarding) changes. A host is
removed with its links however the test ends (context manager, and an atexit net), and hosts
left by a test run that was killed are swept the next time one is made.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from pbx_engine.lab.sandbox import process as processes
from pbx_engine.lab.sandbox.errors import SandboxError

log = structlog.get_logger(__name__)

NAME_PREFIX = "pbxe"
# RFC 2544's benchmarking range: never a real network's, so never the machine's own.
TEST_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
LINKS_PER_PROCESS = 64  # /30s set aside for each test process, so two runs never share one
_NAME = re.compile(rf"^{NAME_PREFIX}-(\d+)-")

_LIVE: set[str] = set()  # namespaces made and not yet removed, for the atexit net


def link_addresses(pid: int, index: int) -> tuple[str, str]:
    """The near (machine) and far (host) addresses of a process's `index`-th link: a /30 of
    the test range picked by the process id, so concurrent runs pick different ones."""
    if not 0 <= index < LINKS_PER_PROCESS:
        raise SandboxError(f"at most {LINKS_PER_PROCESS} links per test process")
    blocks = TEST_RANGE.num_addresses // 4
    block = ((pid % (blocks // LINKS_PER_PROCESS)) * LINKS_PER_PROCESS + index) % blocks
    base = TEST_RANGE.network_address + 4 * block
    return str(base + 1), str(base + 2)


def interface_name(pid: int, index: int) -> str:
    """The near end's name: Linux allows 15 characters; a pid has at most seven digits."""
    return f"pe{pid}x{index}"


def stale_namespaces(names: Sequence[str], alive: set[int]) -> list[str]:
    """Namespaces of ours whose test process is gone."""
    stale = []
    for name in names:
        found = _NAME.match(name)
        if found and int(found.group(1)) not in alive:
            stale.append(name)
    return stale


@dataclass
class Link:
    """One veth pair between the machine and a host: `address` is the host's end."""

    host: TestHost
    near: str  # the interface on the machine
    far: str  # the interface inside the host
    near_address: str
    address: str
    cut_now: bool = False

    async def cut(self) -> None:
        """Drop everything on this link from now on, both ways, silently."""
        await self.host.ip("link", "set", self.far, "down")
        self.cut_now = True
        log.info("sandbox.link_cut", host=self.host.name, address=self.address)

    async def restore(self) -> None:
        await self.host.ip("link", "set", self.far, "up")
        self.cut_now = False
        log.info("sandbox.link_restored", host=self.host.name, address=self.address)


class TestHost:
    """`async with TestHost("db") as host:` a namespace; `await host.link()` a path into it;
    `host.command(...)` runs a program inside it."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, role: str) -> None:
        if not re.fullmatch(r"[a-z0-9]{1,12}", role):
            raise SandboxError(f"a test host's role is 1-12 lower-case letters or digits: {role!r}")
        self.name = f"{NAME_PREFIX}-{os.getpid()}-{role}"
        self.links: list[Link] = []

    async def __aenter__(self) -> TestHost:
        await self.create()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.remove()

    async def create(self) -> None:
        processes.require_binary("ip", package="iproute2")
        _sweep_stale()
        await _ip("netns", "add", self.name)
        _LIVE.add(self.name)
        try:
            await self.ip("link", "set", "lo", "up")
        except BaseException:
            await self.remove()
            raise
        log.info("sandbox.test_host_made", host=self.name)

    def command(self, *args: str) -> list[str]:
        """`args` as run inside the host's namespace."""
        return ["ip", "netns", "exec", self.name, *args]

    async def ip(self, *args: str) -> None:
        await _ip("-n", self.name, *args)

    async def link(self) -> Link:
        """A new path from the machine into the host, with its own addresses."""
        taken = _addresses_on_machine()
        while True:  # another run whose pid picks the same block: the next /30
            index = next(_LINK_INDEXES)
            near_address, address = link_addresses(os.getpid(), index)
            if near_address not in taken:
                break
        near, far = interface_name(os.getpid(), index), f"v{index}"
        await _ip("link", "add", near, "type", "veth", "peer", "name", far, "netns", self.name)
        link = Link(self, near, far, near_address, address)
        self.links.append(link)
        await _ip("addr", "add", f"{near_address}/30", "dev", near)
        await _ip("link", "set", near, "up")
        await self.ip("addr", "add", f"{address}/30", "dev", far)
        await self.ip("link", "set", far, "up")
        return link

    async def remove(self) -> None:
        """End whatever still runs inside, then remove the namespace (its links go with it)."""
        if self.name not in _LIVE:
            return
        _LIVE.discard(self.name)
        _remove_namespace(self.name)
        _delete_near_ends([link.near for link in self.links])
        self.links.clear()
        log.info("sandbox.test_host_removed", host=self.name)


_LINK_INDEXES = itertools.count()  # this process's links, numbered as they are made


async def _ip(*args: str) -> None:
    await processes.run(["ip", *args], what=f"ip {' '.join(args[:3])}", timeout=15)


def _delete_near_ends(interfaces: list[str]) -> None:
    # The kernel dismantles a deleted namespace in the background; its links' near ends are
    # deleted here so that they are gone when the host's removal returns.
    for interface in interfaces:
        subprocess.run(["ip", "link", "delete", interface], capture_output=True)


def _addresses_on_machine() -> set[str]:
    listed = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return set(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", listed.stdout))


def _remove_namespace(name: str) -> None:
    # A namespace lives on while a process is in it: its veth pairs (and addresses on the
    # machine) would outlive `ip netns delete`.
    found = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
    for pid in found.stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _sweep_stale() -> None:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    alive = {int(p) for p in os.listdir("/proc") if p.isdigit()}
    for name in stale_namespaces(names, alive):
        log.warning("sandbox.stale_test_host_removed", host=name)
        _remove_namespace(name)


@atexit.register
def _remove_live() -> None:
    for name in list(_LIVE):
        _remove_namespace(name)
    _LIVE.clear()
