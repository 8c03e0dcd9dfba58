"""kamailio/kamailio.cfg filled in: the address it listens on, the dispatcher list of nodes, the
probe interval and its runtime folder. Values are checked against what Kamailio accepts, and a
value with anything else in it (a space, a newline, a quote) is refused: the list and the
config are plain text Kamailio parses, so a stray character would change what they say."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pbx_engine.resources import KAMAILIO_CONFIG_DIR

TEMPLATE = KAMAILIO_CONFIG_DIR / "kamailio.cfg"
CONFIG_FILE = "kamailio.cfg"
NODES_FILE = "nodes.list"

_HOST = r"(?:\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)"  # noqa: E501
_LISTEN = re.compile(rf"^(udp|tcp):({_HOST}):(\d{{1,5}})$")
_NODE = re.compile(rf"^sip:({_HOST}):(\d{{1,5}})$")
_PLACEHOLDER = re.compile(r"@@[A-Z_]+@@")


class EdgeError(ValueError):
    """A value the proxy cannot be given, saying which and why."""


@dataclass(frozen=True)
class EdgeSettings:
    listen: str  # "udp:ADDRESS:PORT", where carriers send their calls
    nodes: tuple[str, ...]  # "sip:ADDRESS:PORT" of each Asterisk node
    probe_seconds: int = 1  # between OPTIONS probes to each node

    @classmethod
    def checked(cls, listen: str, nodes: Sequence[str], probe_seconds: int = 1) -> EdgeSettings:
        """The settings, or EdgeError naming the first value that is wrong."""
        if not _port_ok(_LISTEN.match(listen), 3):
            raise EdgeError(f"listen {listen!r}: expected udp:ADDRESS:PORT (or tcp:)")
        if not nodes:
            raise EdgeError("no node: give each Asterisk node as sip:ADDRESS:PORT")
        for node in nodes:
            if not _port_ok(_NODE.match(node), 2):
                raise EdgeError(f"node {node!r}: expected sip:ADDRESS:PORT")
        if len(set(nodes)) != len(nodes):
            raise EdgeError("a node is listed twice: it would take twice its share of calls")
        if not 1 <= probe_seconds <= 60:
            raise EdgeError(f"probe every {probe_seconds} s: expected 1 to 60")
        return cls(listen, tuple(nodes), probe_seconds)


def _port_ok(found: re.Match[str] | None, group: int) -> bool:
    return found is not None and 1 <= int(found.group(group)) <= 65535


def nodes_list(settings: EdgeSettings) -> str:
    """The dispatcher list: every node in set 1, equal weight."""
    return "".join(f"1 {node} 0 0\n" for node in settings.nodes)


def render(template: str, settings: EdgeSettings, *, nodes_file: Path, run_dir: Path) -> str:
    """The config with its @@...@@ values filled in; one left unfilled is an EdgeError."""
    for folder in (nodes_file, run_dir):
        if not re.fullmatch(r"[A-Za-z0-9_./-]+", str(folder)):
            raise EdgeError(f"path {str(folder)!r}: letters, digits and _ . / - only")
    text = (
        template.replace("@@LISTEN@@", settings.listen)
        .replace("@@NODES_FILE@@", str(nodes_file))
        .replace("@@PROBE_SECONDS@@", str(settings.probe_seconds))
        .replace("@@RUN_DIR@@", str(run_dir))
    )
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise EdgeError(f"kamailio.cfg has values nobody fills in: {left}")
    return text


def write_edge(out_dir: Path, settings: EdgeSettings) -> Path:
    """kamailio.cfg and nodes.list in `out_dir` (its runtime folder too); the config's path."""
    out_dir = out_dir.absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes_file = out_dir / NODES_FILE
    config = out_dir / CONFIG_FILE
    text = render(TEMPLATE.read_text(), settings, nodes_file=nodes_file, run_dir=out_dir)
    nodes_file.write_text(nodes_list(settings))
    config.write_text(text)
    return config
