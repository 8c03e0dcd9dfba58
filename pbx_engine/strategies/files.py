"""A strategy file (TOML): its steps, in order, each saying when it applies and what it does.

    name = "standard"

    [[step]]
    name = "day-0 reminder"
    days_past_due = [0, 2]          # from, to (inclusive); either may be left out
    action = "sms"                  # sms, email, or stop (nothing more for this case)
    template = "reminder"

    [[step]]
    name = "broken promise"
    last_outcome = ["broken_promise"]
    action = "email"
    template = "missed"

    [[step]]
    name = "dispute"
    last_outcome = ["dispute"]
    action = "stop"

A step is made once per case. `last_outcome` is the case's last disposition (`none` when it has
none yet, `broken_promise` when a promise's date passed unpaid); `segment` and `balance`
(`[min, max]`) narrow it further. The first `stop` step that applies ends the case's strategy.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pbx_engine.cases.dispositions import Disposition
from pbx_engine.config import ConfigError, _describe, read_text, read_toml

OUTCOMES = frozenset({*(d.value for d in Disposition), "none", "broken_promise"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepFile(_Strict):
    name: str = Field(min_length=1, max_length=80)
    action: Literal["sms", "email", "stop"]
    template: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    days_past_due: tuple[int | None, int | None] | None = None
    last_outcome: tuple[str, ...] | None = None
    segment: tuple[str, ...] | None = None
    balance: tuple[Decimal | None, Decimal | None] | None = None

    @field_validator("days_past_due", "balance", mode="before")
    @classmethod
    def _from_only(cls, value):
        """`[10]` means from 10 upward."""
        if isinstance(value, list) and len(value) == 1:
            return (value[0], None)
        return value

    @model_validator(mode="after")
    def _coherent(self) -> StepFile:
        if self.action == "stop" and self.template is not None:
            raise ValueError("a stop step sends nothing: no template")
        if self.action != "stop" and self.template is None:
            raise ValueError(f"an {self.action} step needs a template")
        unknown = sorted(set(self.last_outcome or ()) - OUTCOMES)
        if unknown:
            raise ValueError(
                f"unknown last_outcome {', '.join(unknown)} (known: {', '.join(sorted(OUTCOMES))})"
            )
        for pair, what in ((self.days_past_due, "days_past_due"), (self.balance, "balance")):
            if pair and pair[0] is not None and pair[1] is not None and pair[0] > pair[1]:
                raise ValueError(f"{what}: the first bound is above the second")
        return self


class StrategyFile(_Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_. -]+$")
    step: tuple[StepFile, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_steps(self) -> StrategyFile:
        names = [s.name for s in self.step]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two steps are named {', '.join(twice)}")
        return self


def load_strategy(path: str | Path) -> StrategyFile:
    """ConfigError with the file, the key, its line and the problem."""
    text = read_text(path)
    raw = read_toml(path, text)
    try:
        return StrategyFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path), text)) from None
