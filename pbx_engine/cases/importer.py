"""Reading a creditor's case file: one CSV row per case, checked field by field.

A bad row is reported with its line number and reason and left out; the good rows load. Pure:
text in, rows and errors out; `pbx_engine.storage` loads the rows in bulk.

Columns (header names, any order; * required):
  reference*, debtor_name*, amount_owed*, currency*, creditor* (or --creditor),
  phones (`;`-separated, each `type:number` or a bare number), mobile, landline, work,
  due_date (YYYY-MM-DD), owner_agent (an agent's login), timezone (IANA), address, segment,
  email (where e-mail messages go), language (of the debtor's messages: en, fr, pl, pt_BR...)
At least one phone number is required; a possible number that is not valid in its country's
plan loads, marked dead (never dialled or texted), and is counted in the report. No field may
hold a control character (a line break inside a quoted field, a tab, NUL, ...): such text could
reach the PBX as a command.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from pbx_engine.numbers import BadNumber, invalid_number, to_e164
from pbx_engine.text import control_character_problem

REQUIRED = ("reference", "debtor_name", "amount_owed", "currency")
OPTIONAL = (
    "creditor",
    "phones",
    "mobile",
    "landline",
    "work",
    "due_date",
    "owner_agent",
    "timezone",
    "address",
    "segment",
    "email",
    "language",
)
PHONE_KINDS = ("mobile", "landline", "work")


class FileError(ValueError):
    """The file as a whole cannot be read (no header, unknown columns)."""


@dataclass(frozen=True)
class PhoneEntry:
    e164: str
    kind: str
    # Why it cannot be a working number (phonenumbers: not valid in its country's plan): the
    # case loads with it, and it goes on the dead-number list, never dialled or texted.
    invalid: str | None = None


@dataclass(frozen=True)
class CaseRow:
    line: int
    creditor: str
    reference: str
    debtor_name: str
    amount_owed: Decimal
    currency: str
    phones: tuple[PhoneEntry, ...]
    due_date: date | None = None
    owner_agent: str | None = None
    timezone: str | None = None
    address: str | None = None
    segment: str | None = None
    email: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportBatch:
    rows: list[CaseRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class _Bad(ValueError):
    pass


def _kind_of(e164: str) -> str:
    kind = phonenumbers.number_type(phonenumbers.parse(e164, None))
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        return "mobile"
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        return "landline"
    return "unknown"


def _phones(record: dict[str, str], region: str) -> tuple[PhoneEntry, ...]:
    entries: list[tuple[str | None, str]] = []
    for item in (record.get("phones") or "").split(";"):
        item = item.strip()
        if not item:
            continue
        kind, sep, number = item.partition(":")
        if sep and kind.strip().lower() in (*PHONE_KINDS, "unknown"):
            entries.append((kind.strip().lower(), number))
        elif sep and not kind.strip().lstrip("+").isdigit():
            raise _Bad(f"phone type {kind.strip()!r} is not one of {', '.join(PHONE_KINDS)}")
        else:
            entries.append((None, item))
    for kind in PHONE_KINDS:
        if (record.get(kind) or "").strip():
            entries.append((kind, record[kind]))
    if not entries:
        raise _Bad("no phone number")
    seen: dict[str, PhoneEntry] = {}
    for kind, raw in entries:
        try:
            e164 = to_e164(raw, region)
        except BadNumber as error:
            raise _Bad(str(error)) from None
        if e164 not in seen:
            seen[e164] = PhoneEntry(e164, kind or _kind_of(e164), invalid_number(e164))
    return tuple(seen.values())


def _amount(text: str) -> Decimal:
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in cleaned and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # 1234,56 as written in much of Europe
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise _Bad(f"amount_owed {text!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise _Bad(f"amount_owed {text!r} must be zero or more")
    if amount != amount.quantize(Decimal("0.01")):
        raise _Bad(f"amount_owed {text!r} has more than two decimals")
    if amount >= Decimal("1e12"):
        raise _Bad(f"amount_owed {text!r} is too large")
    return amount.quantize(Decimal("0.01"))


# How the csv module splits the file into lines (`open(..., newline="")`): a quoted field may
# hold line breaks, each of which counts as a line of the file.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_breaks(record: dict[str, str]) -> int:
    return sum(len(_LINE_BREAK.findall(value or "")) for value in record.values())


def _control_characters(record: dict[str, str]) -> str | None:
    """Every field holding a control character, named with the character, or None."""
    problems = []
    for name, value in record.items():
        problem = control_character_problem(value or "")
        if problem is not None:
            problems.append(f"{name} holds {problem}")
    return "; ".join(problems) if problems else None


def _row(line: int, record: dict[str, str], region: str, creditor: str | None) -> CaseRow:
    def text(name: str) -> str | None:
        value = (record.get(name) or "").strip()
        return value or None

    for name in REQUIRED:
        if not text(name):
            raise _Bad(f"{name} is empty")
    owner = text("creditor") or creditor
    if not owner:
        raise _Bad("creditor is empty (give the column or --creditor)")
    currency = text("currency").upper()  # type: ignore[union-attr]
    if len(currency) != 3 or not currency.isalpha():
        raise _Bad(f"currency {currency!r} is not a three-letter ISO code")
    due = None
    if text("due_date"):
        try:
            due = date.fromisoformat(text("due_date"))  # type: ignore[arg-type]
        except ValueError:
            raise _Bad(f"due_date {text('due_date')!r} is not a date (YYYY-MM-DD)") from None
    zone = text("timezone")
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Bad(f"timezone {zone!r} is not an IANA time zone (e.g. Europe/Warsaw)") from None
    return CaseRow(
        line=line,
        creditor=owner,
        reference=text("reference"),  # type: ignore[arg-type]
        debtor_name=text("debtor_name"),
        amount_owed=_amount(text("amount_owed")),  # type: ignore[arg-type]
        currency=currency,
        phones=_phones(record, region),
        due_date=due,
        owner_agent=text("owner_agent"),
        timezone=zone,
        address=text("address"),
        segment=text("segment"),
        email=_email(text("email")),
        language=_language(text("language")),
    )


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^([a-z]{2,3})(?:[-_]([a-z]{2}))?$", re.IGNORECASE)


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    if not _EMAIL.match(value) or len(value) > 254:
        raise _Bad(f"email {value!r} is not an e-mail address")
    return value.lower()


def _language(value: str | None) -> str | None:
    """`fr`, `pt-BR` or `pt_BR` as the database keeps it: `fr`, `pt_BR`."""
    if value is None:
        return None
    found = _LANGUAGE.match(value)
    if not found:
        raise _Bad(f"language {value!r} is not a language code (en, fr, pl, pt_BR...)")
    language, region = found.group(1).lower(), found.group(2)
    return f"{language}_{region.upper()}" if region else language


def parse_cases(
    lines: Iterable[str], default_region: str, *, creditor: str | None = None
) -> ImportBatch:
    """Check every row; `lines` is the file's text, line by line (as `open(..., newline="")`)."""
    if creditor is not None and control_character_problem(creditor):
        raise FileError(f"the creditor holds {control_character_problem(creditor)}")
    reader = csv.DictReader(lines)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        raise FileError("the file is empty: it needs a header row naming the columns")
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    if unknown:
        raise FileError(
            f"unknown column(s) {', '.join(map(repr, unknown))}; known: "
            f"{', '.join(REQUIRED + OPTIONAL)}"
        )
    missing = [h for h in REQUIRED if h not in header]
    if missing:
        raise FileError(f"missing column(s): {', '.join(missing)}")
    reader.fieldnames = header
    batch = ImportBatch()
    first_line: dict[tuple[str, str], int] = {}
    for record in reader:
        if None in record:
            too_many = "more fields than the header has columns"
            batch.errors.append(RowError(reader.line_num, too_many))
            continue
        # The line the row starts on: a quoted field with line breaks spans several.
        line = reader.line_num - _line_breaks(record)
        if all(not (v or "").strip() for v in record.values()):
            continue  # blank line
        refused = _control_characters(record)
        if refused is not None:
            batch.errors.append(RowError(line, refused))
            continue
        try:
            row = _row(line, record, default_region, creditor)
        except _Bad as error:
            batch.errors.append(RowError(line, str(error)))
            continue
        key = (row.creditor, row.reference)
        if key in first_line:
            batch.errors.append(
                RowError(
                    line,
                    f"case {row.reference} of {row.creditor} is on line {first_line[key]} "
                    "already; the first is kept",
                )
            )
            continue
        first_line[key] = line
        batch.rows.append(row)
    return batch
