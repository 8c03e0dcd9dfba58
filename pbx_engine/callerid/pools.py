"""The number-pool file operators edit (TOML, kept in git beside the dialplans).

[defaults]                      # optional: what a number has unless it says otherwise
daily_cap = 200                 # calls a number may present per day
cooldown_seconds = 0            # at least this long between two calls from one number
trunk = "pstn"                  # PJSIP endpoint the number's calls go out through

[health]                        # numbers whose answer rate collapses are rested
window_days = 3                 # answer rate over this many days
min_attempts = 50               # judged only with at least this many calls
collapse_ratio = 0.5            # rested below this share of its pool's median answer rate
rest_days = 2

[[pool]]
name = "us-geo"
numbers = [
  { number = "+12025550111" },                    # area and region from the number
  { number = "+12125550123", daily_cap = 500 },
]

[[pool]]
name = "us-mobile"
type = "mobile"                 # US numbers do not say whether they are mobiles: say it here
numbers = [{ number = "+12025550188" }]

A bad file is refused whole, with the line of the first problem; the running pools stay.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pbx_engine.callerid.geography import Place, place_of
from pbx_engine.config import ConfigError, read_text
from pbx_engine.numbers import BadNumber, to_e164
from pbx_engine.text import printable_throughout


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        # Names, numbers and sounds here reach Asterisk: no line breaks or other controls.
        return printable_throughout(value)


class Defaults(_Section):
    daily_cap: int = Field(200, ge=0)
    cooldown_seconds: float = Field(0, ge=0)
    trunk: str | None = None


class HealthRules(_Section):
    window_days: float = Field(3, gt=0)
    min_attempts: int = Field(50, ge=1)
    collapse_ratio: float = Field(0.5, ge=0, le=1)
    rest_days: float = Field(2, ge=0)


class NumberEntry(_Section):
    number: str
    type: Literal["geographic", "mobile"] | None = None
    region: str | None = None  # overrides the region found from the number
    daily_cap: int | None = Field(None, ge=0)
    cooldown_seconds: float | None = Field(None, ge=0)
    trunk: str | None = None

    @field_validator("number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not value.startswith("+"):
            raise ValueError(f"{value!r}: write numbers in E.164, with the + and country code")
        try:
            return to_e164(value, "ZZ")
        except BadNumber as error:
            raise ValueError(str(error)) from None


class PoolEntry(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: Literal["geographic", "mobile"] | None = None
    numbers: list[NumberEntry] = Field(min_length=1)


class PoolsFile(_Section):
    defaults: Defaults = Defaults()
    health: HealthRules = HealthRules()
    pool: list[PoolEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class PoolNumber:
    e164: str
    pool: str
    place: Place
    daily_cap: int
    cooldown_seconds: float
    trunk: str | None


@dataclass(frozen=True)
class NumberPools:
    pools: dict[str, tuple[PoolNumber, ...]]
    health: HealthRules
    source: str = ""

    def numbers(self) -> list[PoolNumber]:
        return [n for numbers in self.pools.values() for n in numbers]

    def by_number(self) -> dict[str, PoolNumber]:
        return {n.e164: n for n in self.numbers()}


EMPTY = NumberPools({}, HealthRules())


def parse_pools(text: str, source: str = "<pools>") -> NumberPools:
    """Validate a pool file's text; ConfigError names the file, the line and the problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    try:
        parsed = PoolsFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_located(error, raw, text, source)) from None
    pools: dict[str, tuple[PoolNumber, ...]] = {}
    seen: dict[str, str] = {}
    for entry in parsed.pool:
        if entry.name in pools:
            raise ConfigError(f"{source}:{_line_of(text, entry.name)}: pool {entry.name!r} twice")
        numbers = []
        for item in entry.numbers:
            if item.number in seen:
                raise ConfigError(
                    f"{source}:{_line_of(text, item.number, second=True)}: {item.number} is in "
                    f"pool {seen[item.number]!r} already (a number belongs to one pool)"
                )
            seen[item.number] = entry.name
            place = place_of(item.number)
            kind = item.type or entry.type
            if kind is not None:
                place = Place(place.country, place.area, place.region, kind == "mobile")
            if item.region is not None:
                place = Place(place.country, place.area, item.region, place.mobile)
            numbers.append(
                PoolNumber(
                    e164=item.number,
                    pool=entry.name,
                    place=place,
                    daily_cap=(
                        parsed.defaults.daily_cap if item.daily_cap is None else item.daily_cap
                    ),
                    cooldown_seconds=(
                        parsed.defaults.cooldown_seconds
                        if item.cooldown_seconds is None
                        else item.cooldown_seconds
                    ),
                    trunk=item.trunk or parsed.defaults.trunk,
                )
            )
        pools[entry.name] = tuple(numbers)
    return NumberPools(pools, parsed.health, source)


def load_pools(path: str | Path) -> NumberPools:
    return parse_pools(read_text(path), str(path))


def _located(error: ValidationError, raw: dict, text: str, source: str) -> str:
    """The first problem, with the line it is on (found from the offending value or key)."""
    # A typo'd key also makes the right one "missing": name the typo first.
    item = sorted(error.errors(), key=lambda e: e["type"] != "extra_forbidden")[0]
    loc = item["loc"]
    key = ".".join(str(p) for p in loc) or "(top level)"
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    elif item["type"] == "missing":
        message = "required key is missing"
    line = None
    node: object = raw
    for part in loc:
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
            break
    if isinstance(node, str | int | float) and not isinstance(node, bool):
        line = _line_of(text, str(node))
    if line is None and loc:
        line = _line_of(text, str(loc[-1]))
    where = f"{source}:{line}" if line else source
    more = error.error_count() - 1
    return f"{where}: {key}: {message}" + (f" (and {more} more)" if more else "")


def _line_of(text: str, needle: str, *, second: bool = False) -> int | None:
    """The line number of `needle` in `text` (its second occurrence if asked)."""
    hits = [m.start() for m in re.finditer(re.escape(needle), text)]
    if not hits:
        return None
    at = hits[1] if second and len(hits) > 1 else hits[0]
    return text.count("\n", 0, at) + 1
