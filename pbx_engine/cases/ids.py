"""What counts as a case id: the cases table's key is a bigint, so an id beyond it names no case
(and PostgreSQL would refuse the query rather than find nothing)."""

from __future__ import annotations

CASE_ID_MAX = 2**63 - 1


def parse_case_id(value: str | int) -> int | None:
    """The case id `value` names (a URL's path segment, or an id already read as a number), or
    None when it can name none: not a whole number, not positive, or beyond the bigint key."""
    try:
        case_id = int(value)
    except ValueError:
        return None
    return case_id if 0 < case_id <= CASE_ID_MAX else None
