"""Structured logging: named events with the call's ids bound through structlog.contextvars.

Readable key=value lines on a terminal, one JSON object per line otherwise (journald, docker).
Debtors' phone numbers are masked to their last 4 digits (`mask_phone_numbers`): logs travel to
places (journald, log shippers, support tickets) where a debtor list must not.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog

# Keys whose values are phone numbers: every run of 5 digits or more in them is masked.
NUMBER_KEYS = frozenset(
    {
        "number", "numbers", "dialled", "dialed", "caller", "callerid", "caller_id", "cid",
        "callee", "phone", "phones", "ani", "dnis", "did", "to", "from", "destination",
        "connected", "connected_line", "exten", "extension", "contact", "msisdn",
    }
)  # fmt: skip
_NUMBER_SUFFIXES = ("_number", "_numbers", "_phone", "_dialled", "_caller", "_callerid")
# Ids and times are never numbers, even all digits (an Asterisk uniqueid, an epoch).
_NEVER_MASKED = frozenset({"timestamp", "level", "logger", "exc_info", "stack_info"})
_NEVER_MASKED_SUFFIXES = ("_id", "_ids", "_at", "_time", "_s", "_ms", "_seconds", "_count")

# In free text: an E.164 or national number, 7 to 15 digits with single separators, not part
# of a word, a decimal, a dotted address, a time or a longer dash-joined id.
_TEXT_NUMBER = re.compile(r"(?<![\w.+:-])(\+?\(?\d(?:(?:[ -]|\) ?)?\d){6,14})(?!\w|[.:]\d|-\w)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DIGIT_RUN = re.compile(r"\+?\d(?:[ ()-]{0,2}\d){4,}")


def mask_number(text: str) -> str:
    """`+12025551234` -> `+*******1234`: a leading + kept, separators dropped, all digits but the
    last 4 starred. Fewer than 5 digits (an extension) stay as they are."""
    digits = [c for c in text if c.isdigit()]
    if len(digits) < 5:
        return text
    plus = "+" if text.lstrip().startswith("+") else ""
    return plus + "*" * (len(digits) - 4) + "".join(digits[-4:])


def _mask_free_text(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        return found if _DATE.fullmatch(found) else mask_number(found)

    return _TEXT_NUMBER.sub(replace, text)


def _mask_value(value: Any, number_key: bool, depth: int = 0) -> Any:
    if isinstance(value, str):
        if number_key:
            return _DIGIT_RUN.sub(lambda m: mask_number(m.group(0)), value)
        return _mask_free_text(value) if any(c.isdigit() for c in value) else value
    if isinstance(value, int) and not isinstance(value, bool):
        return mask_number(str(value)) if number_key and value >= 1_000_000 else value
    if depth >= 3:
        return value
    if isinstance(value, Mapping):
        return {k: _mask_value(v, _is_number_key(k), depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_mask_value(v, number_key, depth + 1) for v in value)
    return value


def _is_number_key(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return name in NUMBER_KEYS or name.endswith(_NUMBER_SUFFIXES)


def _never_masked(key: str) -> bool:
    name = key.lower()
    if name in _NEVER_MASKED:
        return True
    return not _is_number_key(name) and (name == "id" or name.endswith(_NEVER_MASKED_SUFFIXES))


def mask_phone_numbers(_logger: object, _method: str, event_dict: dict) -> dict:
    """structlog processor: phone numbers in known keys and in free text show their last 4
    digits only; ids, times and counts stay as they are."""
    for key, value in event_dict.items():
        if not _never_masked(key):
            event_dict[key] = _mask_value(value, _is_number_key(key))
    return event_dict


_HANDLER_NAME = "pbx-engine"
_format: dict[str, str] = {"current": "console"}


def logs_as_json() -> bool:
    """Whether the last configure_logging chose JSON lines."""
    return _format["current"] == "json"


class _StandardLibraryHandler(logging.StreamHandler):
    """Libraries' records (asyncio, aiohttp, panoramisk), rendered by structlog's renderer."""

    def emit(self, record: logging.LogRecord) -> None:
        # A stream closed under us (a test runner's capture) must not print logging errors.
        if not getattr(self.stream, "closed", False):
            super().emit(record)


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream=None,
    mask_numbers: bool = True,
) -> None:
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    _format["current"] = fmt
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    numeric = logging.getLevelName(level.upper())
    shared: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            *([mask_phone_numbers] if mask_numbers else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_standard_library(stream, renderer, shared, max(numeric, logging.INFO), mask_numbers)


def _route_standard_library(
    stream, renderer: structlog.typing.Processor, shared: list, level: int, mask_numbers: bool
) -> None:
    """Libraries log through the standard library: their records go through the same renderer
    (one JSON object per line under journald and docker), with the library's name as `logger`.
    Our handler replaces the one a previous call installed; a test runner's stay."""
    handler = _StandardLibraryHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    if mask_numbers:
        handler.addFilter(MaskNumbersFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class MaskNumbersFilter(logging.Filter):
    """The standard library's records (aiohttp's access log, panoramisk), masked as above."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(c.isdigit() for c in message):
            record.msg, record.args = _mask_free_text(message), ()
        return True
