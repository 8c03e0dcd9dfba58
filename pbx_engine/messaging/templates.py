"""What a message to a debtor says: operators' templates, filled from his case, with the opt-out
line the engine adds and no template can remove.

A messages file (TOML) holds a campaign's templates by name and language:

    [reminder.en]
    sms = "{{ debtor_name }}: {{ amount_owed | money }} is due {{ due_date | day }}."
    email_subject = "Your account {{ reference }}"
    email_body = '''
    Dear {{ debtor_name }},
    ...'''

and, for a language the engine has no opt-out wording for, `[opt_out.LANG]` with `sms` (which
must name the STOP keyword) and `email`. Templates run in Jinja2's sandbox with every name
required (`StrictUndefined`): a template that names a field the case does not have, a filter
that does not exist or a syntax error fails loading (and so `check-config`), with the file, the
template and the line, never a send. Amounts and dates are written in the debtor's language
with Babel. Plain text only: nothing here is ever read as HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError

from pbx_engine.config import ConfigError, read_text, read_toml
from pbx_engine.messaging.sms_text import SmsLength, measure_sms
from pbx_engine.toml_lines import key_line

# What a template may name: the case's own fields, and what the engine adds.
FIELDS = {
    "debtor_name": "the debtor's name as the case file has it",
    "creditor": "the creditor's name",
    "reference": "the case's reference at the creditor",
    "amount_owed": "the balance (a number: write it with `| money`)",
    "currency": "ISO 4217 code of the balance",
    "due_date": "the due date, if any (a date: write it with `| day`)",
    "pay_link": "the case's signed payment link",
    "company": "who is writing: [messages] company in the engine's config",
    "callback_number": "the number a debtor calls back: [messages] callback_number",
}

CHANNEL_KEYS = {"sms": ("sms",), "email": ("email_subject", "email_body")}

# Every electronic message ends with a plain way to stop them (Reg F § 1006.6(e); the French
# and British rules ask the same). {link} is the case's unsubscribe link.
OPT_OUT = {
    "en": {
        "sms": "Reply STOP to opt out.",
        "email": "To stop e-mails from us, reply STOP or open {link}",
        "email_no_link": "To stop e-mails from us, reply STOP.",
    },
    "fr": {
        "sms": "Répondez STOP pour ne plus recevoir nos SMS.",
        "email": "Pour ne plus recevoir nos e-mails, répondez STOP ou ouvrez {link}",
        "email_no_link": "Pour ne plus recevoir nos e-mails, répondez STOP.",
    },
    "es": {
        "sms": "Responda STOP para no recibir más mensajes.",
        "email": "Para dejar de recibir nuestros correos, responda STOP o abra {link}",
        "email_no_link": "Para dejar de recibir nuestros correos, responda STOP.",
    },
    "pl": {
        "sms": "Odpisz STOP, aby nie otrzymywać SMS-ów.",
        "email": "Aby nie otrzymywać od nas e-maili, odpisz STOP lub otwórz {link}",
        "email_no_link": "Aby nie otrzymywać od nas e-maili, odpisz STOP.",
    },
}


_PLAIN_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " "})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemplateText(_Strict):
    sms: str | None = None
    email_subject: str | None = None
    email_body: str | None = None


class OptOutText(_Strict):
    sms: str
    email: str  # with {link}, the case's unsubscribe link
    email_no_link: str = ""  # where the engine has no public address for links


@dataclass(frozen=True)
class MessageContext:
    """The fields a template is filled from (see FIELDS)."""

    debtor_name: str
    creditor: str
    reference: str
    amount_owed: Decimal
    currency: str
    due_date: date | None
    pay_link: str
    company: str
    callback_number: str
    unsubscribe_link: str  # for the opt-out line, not for templates


@dataclass(frozen=True)
class Rendered:
    channel: str
    language: str
    body: str
    subject: str | None = None  # e-mail only
    sms_length: SmsLength | None = None  # SMS only


class MessageTemplates:
    """A messages file, loaded and checked: `render(name, channel, language, context)`."""

    def __init__(
        self,
        source: str,
        texts: Mapping[str, Mapping[str, TemplateText]],
        opt_out: Mapping[str, OptOutText],
    ) -> None:
        self.source = source
        self._texts = texts
        self._opt_out = {**{k: OptOutText(**v) for k, v in OPT_OUT.items()}, **opt_out}
        self._env = _environment()

    def names(self) -> list[str]:
        return sorted(self._texts)

    def languages(self, name: str) -> list[str]:
        return sorted(self._texts.get(name, {}))

    def channels(self, name: str, language: str) -> list[str]:
        text = self._texts[name][language]
        return [c for c, keys in CHANNEL_KEYS.items() if all(getattr(text, k) for k in keys)]

    def render(self, name: str, channel: str, language: str, context: MessageContext) -> Rendered:
        """The message as sent; KeyError when there is no such template in that language (or
        for that channel), which callers check beforehand with `has`."""
        text = self._texts[name][language]
        fields = {k: getattr(context, k) for k in FIELDS}
        env = self._env.overlay()
        env.filters.update(_formatters(language, context.currency))
        opt_out = self._opt_out[language]
        if channel == "sms":
            if not text.sms:
                raise KeyError(f"{name}.{language} has no sms")
            body = env.from_string(text.sms).render(fields).strip()
            # Babel writes "1 234,50 €" with no-break spaces, which GSM-7 lacks: one of them
            # would make the whole SMS UCS-2 and double its parts.
            body = f"{body.translate(_PLAIN_SPACES)}\n{opt_out.sms}"
            return Rendered("sms", language, body, sms_length=measure_sms(body))
        if not (text.email_subject and text.email_body):
            raise KeyError(f"{name}.{language} has no e-mail")
        subject = " ".join(env.from_string(text.email_subject).render(fields).split())
        body = env.from_string(text.email_body).render(fields).strip()
        if context.unsubscribe_link:
            line = opt_out.email.replace("{link}", context.unsubscribe_link)
        else:
            line = opt_out.email_no_link or opt_out.email.replace("{link}", "").strip()
        body = f"{body}\n\n-- \n{line}\n"
        return Rendered("email", language, body, subject=subject)

    def has(self, name: str, channel: str, language: str) -> bool:
        return (
            name in self._texts
            and language in self._texts[name]
            and (channel in self.channels(name, language))
        )


SAMPLE = MessageContext(
    debtor_name="Alexandra Kowalczyk-Smith",
    creditor="Northern Consumer Finance",
    reference="NCF-2026-0001234",
    amount_owed=Decimal("12345.67"),
    currency="EUR",
    due_date=date(2026, 12, 31),
    pay_link="https://pay.example.com/p/NCF-2026-0001234",
    company="Collections Ltd",
    callback_number="+44 20 7946 0000",
    unsubscribe_link="https://pbx.example.com/unsubscribe/0123456789abcdef",
)


def sample_lengths(templates: MessageTemplates) -> list[str]:
    """Each SMS template's length with a long sample case: what it costs before it goes out."""
    lines = []
    for name in templates.names():
        for language in templates.languages(name):
            if templates.has(name, "sms", language):
                length = templates.render(name, "sms", language, SAMPLE).sms_length
                assert length is not None
                lines.append(f"{name}.{language} sms: {length.describe()} with a sample case")
    return lines


def load_templates(path: str | Path) -> MessageTemplates:
    """Read and check a messages file; ConfigError listing every problem with its line."""
    source = str(path)
    text = read_text(path)
    raw = read_toml(path, text)
    problems: list[str] = []
    opt_out: dict[str, OptOutText] = {}
    for language, wording in (raw.pop("opt_out", None) or {}).items():
        try:
            opt_out[language] = OptOutText.model_validate(wording)
        except ValidationError as error:
            problems += _pydantic_problems(error, ("opt_out", language), text)
            continue
        if "STOP" not in opt_out[language].sms:
            line = key_line(text, ("opt_out", language, "sms"))
            problems.append(
                f"opt_out.{language}.sms{_at(line)}: must name the STOP keyword (what a "
                "debtor replies to opt out)"
            )
    texts: dict[str, dict[str, TemplateText]] = {}
    env = _environment()
    known_languages = set(OPT_OUT) | set(opt_out)
    for name, by_language in raw.items():
        if not isinstance(by_language, dict):
            problems.append(f"{name}{_at(key_line(text, (name,)))}: expected [{name}.LANGUAGE]")
            continue
        for language, fields in by_language.items():
            where = (name, language)
            try:
                template = TemplateText.model_validate(fields)
            except ValidationError as error:
                problems += _pydantic_problems(error, where, text)
                continue
            if _locale(language) is None:
                problems.append(
                    f"{name}.{language}{_at(key_line(text, where))}: {language!r} is not a "
                    "language Babel knows (use a code such as en, fr, pl, es, de)"
                )
                continue
            if language not in known_languages:
                problems.append(
                    f"{name}.{language}{_at(key_line(text, where))}: no opt-out wording for "
                    f"{language!r}: add [opt_out.{language}] with sms and email"
                )
            if not any(getattr(template, k) for keys in CHANNEL_KEYS.values() for k in keys):
                problems.append(f"{name}.{language}{_at(key_line(text, where))}: empty")
            if bool(template.email_subject) != bool(template.email_body):
                problems.append(
                    f"{name}.{language}{_at(key_line(text, where))}: an e-mail needs both "
                    "email_subject and email_body"
                )
            for key in ("sms", "email_subject", "email_body"):
                body = getattr(template, key)
                if body:
                    first_line = _template_start(text, key_line(text, (*where, key)))
                    for problem, line in check_template(env, body):
                        at = None if first_line is None else first_line + line - 1
                        problems.append(f"{name}.{language}.{key}{_at(at)}: {problem}")
            texts.setdefault(name, {})[language] = template
    if problems:
        listed = "\n".join(f"  {p}" for p in problems)
        raise ConfigError(f"{source}: {len(problems)} problem(s)\n{listed}")
    return MessageTemplates(source, texts, opt_out)


def check_template(env, body: str) -> list[tuple[str, int]]:
    """A template's problems, each with its line within the template (1-based)."""
    try:
        tree = env.parse(body)
    except TemplateSyntaxError as error:
        return [(f"template syntax: {error.message}", error.lineno)]
    problems = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in FIELDS and name.name not in assigned:
            problems.append(
                (
                    f"{{{{ {name.name} }}}} is not a field a message can use "
                    f"(fields: {', '.join(FIELDS)})",
                    name.lineno,
                )
            )
    for used in tree.find_all(nodes.Filter):
        if used.name not in env.filters:
            problems.append(
                (f"no filter named {used.name!r} (money, day, and Jinja2's own)", used.lineno)
            )
    if not problems:
        try:
            env.from_string(body)  # what parsing alone lets through (a bad test, ...)
        except TemplateError as error:
            problems.append((f"template: {error}", getattr(error, "lineno", 1) or 1))
    return problems


def _environment() -> ImmutableSandboxedEnvironment:
    # Sandboxed and immutable: a template reaches no attribute or method that could change
    # anything or read what it should not; StrictUndefined: a missing name fails, never "".
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(_formatters("en"))  # names known at check time; real ones per language
    return env


def _formatters(language: str, currency: str = "USD") -> dict[str, Callable]:
    """`money` (an amount in the case's currency) and `day` (a date), as the language writes
    them: "$1,234.50" / "1 234,50 $US", "December 3, 2026" / "3 décembre 2026"."""
    locale = _locale(language) or Locale.parse("en")

    def money(amount) -> str:
        return format_currency(Decimal(amount), currency, locale=locale)

    def day(value: date | None, style: str = "long") -> str:
        return "" if value is None else format_date(value, format=style, locale=locale)

    return {"money": money, "day": day}


def _template_start(text: str, key_line_number: int | None) -> int | None:
    """The file line of a template's first line: its key's line, or the next one when a
    multi-line string opens there (TOML drops the newline right after the quotes)."""
    if key_line_number is None:
        return None
    line = text.splitlines()[key_line_number - 1].rstrip()
    return key_line_number + 1 if line.endswith(("'''", '"""')) else key_line_number


def _locale(language: str) -> Locale | None:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def _pydantic_problems(error: ValidationError, where: tuple[str, ...], text: str) -> list[str]:
    found = []
    for item in error.errors():
        loc = (*where, *(str(p) for p in item["loc"]))
        message = "unknown key (a typo?)" if item["type"] == "extra_forbidden" else item["msg"]
        found.append(f"{'.'.join(loc)}{_at(key_line(text, loc))}: {message}")
    return found


def _at(line: int | None) -> str:
    return "" if line is None else f" (line {line})"
