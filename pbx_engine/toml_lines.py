"""Where a key sits in a TOML file's text, for error messages: tomllib gives values without
positions, so this reads the lines (table headers, `key =` lines) the way TOML lays them out."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ARRAY_TABLE = re.compile(r"^\[\[\s*(?P<name>[^\[\]]+?)\s*\]\]")
_TABLE = re.compile(r"^\[\s*(?P<name>[^\[\]]+?)\s*\]")
_KEY = re.compile(r"""^(?P<key>[A-Za-z0-9_\-"'. ]+?)\s*=""")


def _dotted(name: str) -> list[str]:
    return [part.strip().strip("\"'") for part in name.split(".")]


def key_line(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line that sets the key at `loc` (pydantic's error location: names, and
    indexes into arrays of tables); else the line of the nearest table or key enclosing it (a
    missing key: its table's header); None when nothing in the file leads to it."""
    path = list(loc)
    table: list[str | int] = []
    seen: dict[tuple[str, ...], int] = {}
    nearest = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if found := _ARRAY_TABLE.match(stripped):
            name = tuple(_dotted(found["name"]))
            seen[name] = seen.get(name, -1) + 1
            here = table = [*name, seen[name]]
        elif found := _TABLE.match(stripped):
            here = table = _dotted(found["name"])
        elif found := _KEY.match(stripped):
            here = [*table, *_dotted(found["key"])]
            if here == path:
                return number
        else:
            continue
        if here and here == path[: len(here)]:
            nearest = number
        elif nearest is None and path and path == here[: len(path)]:
            nearest = number  # an error about an array of tables as a whole: its first one
    return nearest
