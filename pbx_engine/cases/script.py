"""A campaign's call script with the case's fields filled in (pure).

Placeholders are `{name}`: debtor_name, reference, creditor, original_creditor, amount_owed,
amount_paid, balance, currency, due_date, agent. An unknown placeholder stays as written, so a
typo shows on the agent's screen instead of vanishing.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def fill_script(template: str, case: dict[str, Any] | None, agent: str) -> str:
    case = case or {}
    values = {
        key: case.get(key)
        for key in (
            "debtor_name",
            "reference",
            "creditor",
            "original_creditor",
            "amount_owed",
            "amount_paid",
            "currency",
            "due_date",
        )
    }
    values["original_creditor"] = values["original_creditor"] or case.get("creditor")
    try:
        balance = Decimal(str(case.get("amount_owed"))) - Decimal(str(case.get("amount_paid", 0)))
        values["balance"] = f"{balance:.2f}"
    except (InvalidOperation, TypeError):
        values["balance"] = None
    values["agent"] = agent

    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1), match.group(0))
        return match.group(0) if value is None else str(value)

    return _PLACEHOLDER.sub(one, template)
