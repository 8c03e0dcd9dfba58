"""Text from outside (case files, API bodies, config files, the database) without control
characters.

A line feed inside a debtor's case reference once ended a FastAGI command early and started a
second one; carriage returns, NULs and the Unicode line and paragraph separators split lines and
strings in the protocols and logs the text goes on to. So free text is checked where it enters
(`SingleLineText`, `MultiLineText` for pydantic models, `control_character_problem` for the
case importer) and again where it leaves for Asterisk (`refuse_control_characters`). Pure.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator

# Cc: C0 (NUL, TAB, CR, LF, ESC ...), DEL and C1 (NEL U+0085 ...); Zl/Zp: U+2028 and U+2029;
# Cs: a lone surrogate, which cannot even be encoded as UTF-8.
_REFUSED_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# In a note or a comment a new line or a tab means something; nowhere else.
_MULTILINE_ALLOWED = frozenset("\n\t")


class ControlCharacterError(ValueError):
    """Text holds a character that could end a line or a command where it is sent."""


def is_refused(char: str) -> bool:
    return unicodedata.category(char) in _REFUSED_CATEGORIES


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    if not name:
        name = {
            "\x00": "NUL",
            "\t": "TAB",
            "\n": "LINE FEED",
            "\r": "CARRIAGE RETURN",
            "\x1b": "ESCAPE",
            "\x7f": "DELETE",
            "\x85": "NEXT LINE",
        }.get(char, "control character")
    return f"U+{ord(char):04X} ({name})"


def control_character_problem(value: str, *, allow: frozenset[str] = frozenset()) -> str | None:
    """Why `value` is refused ("a control character U+000A (LINE FEED) at position 4"), or
    None when it holds none (apart from those in `allow`)."""
    for position, char in enumerate(value):
        if char not in allow and is_refused(char):
            return f"a control character {_describe(char)} at position {position + 1}"
    return None


def refuse_control_characters(value: str, what: str) -> str:
    """`value` unchanged, or ControlCharacterError naming `what` and the character."""
    problem = control_character_problem(value)
    if problem is not None:
        raise ControlCharacterError(f"{what} holds {problem}")
    return value


def printable_throughout(value: object) -> object:
    """`value` unchanged when no string in it (in lists, tuples, dict keys and values) holds a
    control character; ValueError otherwise. For config-file models: `field_validator("*")`."""
    if isinstance(value, str):
        return _single_line(value)
    if isinstance(value, dict):
        for key, item in value.items():
            printable_throughout(key)
            printable_throughout(item)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            printable_throughout(item)
    return value


def _single_line(value: str) -> str:
    problem = control_character_problem(value)
    if problem is not None:
        raise ValueError(f"holds {problem}; only printable text on one line is accepted")
    return value


def _multi_line(value: str) -> str:
    # A browser's textarea may send CRLF: one line break either way.
    value = value.replace("\r\n", "\n")
    problem = control_character_problem(value, allow=_MULTILINE_ALLOWED)
    if problem is not None:
        raise ValueError(f"holds {problem}; only printable text, new lines and tabs are accepted")
    return value


# Names, references, reasons, logins: printable text on one line.
SingleLineText = Annotated[str, AfterValidator(_single_line)]
# Notes: printable text, new lines and tabs.
MultiLineText = Annotated[str, AfterValidator(_multi_line)]
