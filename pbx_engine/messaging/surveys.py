"""Satisfaction surveys by SMS or e-mail (pure): the score a reply to a survey gives.

A survey is a template named in `[messages] survey_templates`, sent by a strategy step after a
conversation ("How was your call today? Reply 1 (poor) to 5 (very good)."). A reply whose
first word is a number from 1 to 5 ("4", "4/5", "5 thank you") is its score; anything else is
an ordinary reply, read by a person.
"""

from __future__ import annotations

import re

_SCORE = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?(?![0-9]|[.,][0-9])")


def survey_score(text: str) -> int | None:
    """The score (1 to 5) a reply gives, or None."""
    found = _SCORE.match(text)
    return int(found[1]) if found else None


def unknown_surveys(survey_templates: list[str], names: list[str], where: str) -> str | None:
    """The problem with `[messages] survey_templates` when it names a template the messages file
    (`where`, with its `names`) does not have; None when each is there."""
    unknown = sorted(set(survey_templates) - set(names))
    if not unknown:
        return None
    named = ", ".join(map(repr, unknown))
    return f"[messages] survey_templates names {named}, which {where} does not have"
