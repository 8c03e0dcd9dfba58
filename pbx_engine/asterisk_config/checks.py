"""What is wrong with a dialplan, as pure functions: Asterisk's own complaints read from its log,
and the engine's checks (the contexts it sends calls to exist, every Stasis() names its app,
every application is one Asterisk has).

Asterisk reports a dialplan problem with its place, e.g.
`WARNING[12] pbx_config.c: No closing parenthesis found? 'Set(A=1' at line 41 of
/run/etc/dialplan.conf`; the rendered file's name maps back to the operator's template (the
placeholders are single-line values, so the line numbers are the template's).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# [2026-12-03 09:30:43.437] WARNING[22127] pbx_config.c: message  (a call's id may follow the
# thread's: WARNING[22127][C-00000001])
_LOG_LINE = re.compile(
    r"^\[[^\]]*\] (?P<level>WARNING|ERROR)\[\d+\](?:\[[^\]]*\])? (?P<source>[\w.-]+): "
    r"(?P<message>.*)$"
)
# "... at line 41 of /x/dialplan.conf", "parse error: no closing ']', line 3 of /x/y.conf",
# "Unknown directive: x at line 2 of /x/y.conf -- IGNORING!!!"
_AT_LINE = re.compile(
    r",? (?:at |on )?line (?P<line>\d+) of (?P<file>/\S+?)(?P<rest>!?(?: -- .*)?)$"
)
# "'/x/y.conf', line 3:  Same File included more than once! ..."
_QUOTED_FILE = re.compile(r"^'(?P<file>[^']+)', line (?P<line>\d+):\s*(?P<rest>.*)$")

_CONTEXT = re.compile(r"^\[(?P<name>[^\]]+)\]")
_EXTEN = re.compile(r"^(?P<kind>exten|same)\s*=>?\s*(?P<body>.*)$", re.IGNORECASE)
_GLOBAL = re.compile(r"^(?P<name>[\w-]+)\s*=>?\s*(?P<value>.*)$")
# A priority with its label: 1, n, n(label), 2(label), hint
_PRIORITY = re.compile(r"^\s*[^,(]+(?:\([^)]*\))?\s*,")
_VARIABLE = re.compile(r"^\$\{(?P<name>\w+)\}$")
_STASIS = "stasis"


@dataclass(frozen=True)
class Problem:
    """One thing to fix, where it is: `file:line: message` (no line when Asterisk gave none)."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}:{self.line}: {self.message}"
            if self.line
            else (f"{self.file}: {self.message}")
        )


def logged_problems(log_text: str) -> list[Problem]:
    """Every WARNING and ERROR in an Asterisk log that names a file and line, and every ERROR
    that names none (file: the module that logged it). Other warnings (a throwaway Asterisk's
    own, such as "no music on hold classes") are not the dialplan's problems."""
    problems = []
    for text in log_text.splitlines():
        found = _LOG_LINE.match(text)
        if found is None:
            continue
        message = found["message"].strip()
        located = _AT_LINE.search(message)
        if located is not None:
            what = message[: located.start()] + located["rest"].removeprefix("!")
            problems.append(Problem(located["file"], int(located["line"]), what.strip()))
            continue
        quoted = _QUOTED_FILE.match(message)
        if quoted is not None:
            problems.append(Problem(quoted["file"], int(quoted["line"]), quoted["rest"]))
        elif found["level"] == "ERROR":
            problems.append(Problem(found["source"], None, message))
    return problems


def to_sources(
    problems: Iterable[Problem], sources: Mapping[str, Path], etc: Path
) -> list[Problem]:
    """Name the operator's template instead of the rendered file in etc/ (name -> template)."""
    mapped = []
    for problem in problems:
        path = Path(problem.file)
        source = sources.get(path.name) if path.parent == etc else None
        mapped.append(Problem(str(source), problem.line, problem.message) if source else problem)
    return list(dict.fromkeys(mapped))


@dataclass(frozen=True)
class Application:
    """One dialplan step: the application and its arguments, where it is written."""

    file: str
    line: int
    context: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Dialplan:
    contexts: dict[str, tuple[str, int]]  # name -> (file, line) of its first [section]
    applications: list[Application]
    globals: dict[str, str]


def _strip_comment(line: str) -> str:
    # `;` starts a comment unless escaped as `\;`.
    return re.split(r"(?<!\\);", line, maxsplit=1)[0].strip()


def _application(body: str, kind: str) -> tuple[str, str] | None:
    """(name, arguments) from `ext,prio,App(args)` (exten) or `prio,App(args)` (same)."""
    if kind == "exten":
        if "," not in body:
            return None
        body = body.split(",", 1)[1]
    priority = _PRIORITY.match(body)
    if priority is None or priority.group().split("(")[0].strip(" ,").lower() == "hint":
        return None
    step = body[priority.end() :].strip()
    name, _, arguments = step.partition("(")
    return name.strip(), arguments.removesuffix(")")


def parse_dialplan(files: Mapping[str, str]) -> Dialplan:
    """Contexts, applications and [globals] of extensions.conf-style files (file -> text)."""
    contexts: dict[str, tuple[str, int]] = {}
    applications: list[Application] = []
    global_values: dict[str, str] = {}
    for file, text in files.items():
        context = ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = _strip_comment(raw)
            if not line or line.startswith("#"):
                continue
            section = _CONTEXT.match(line)
            if section is not None:
                context = section["name"].strip()
                contexts.setdefault(context, (file, number))
                continue
            step = _EXTEN.match(line)
            if step is not None and context not in ("general", "globals"):
                found = _application(step["body"], step["kind"].lower())
                if found is not None:
                    applications.append(Application(file, number, context, *found))
            elif context == "globals" and (assigned := _GLOBAL.match(line)):
                global_values[assigned["name"]] = assigned["value"].strip()
    return Dialplan(contexts, applications, global_values)


def stasis_app_problems(dialplan: Dialplan, ari_app: str) -> list[Problem]:
    """Every Stasis() must hand calls to the engine's app ([ari] app): Asterisk refuses a call
    into an app no websocket serves ("Stasis app 'x' not registered"). An app named by a
    variable is checked when [globals] sets it."""
    problems = []
    for step in dialplan.applications:
        if step.name.lower() != _STASIS:
            continue
        named = step.arguments.split(",", 1)[0].strip()
        variable = _VARIABLE.match(named)
        if variable is not None:
            if variable["name"] not in dialplan.globals:
                continue
            named = dialplan.globals[variable["name"]]
        if named != ari_app:
            problems.append(
                Problem(
                    step.file,
                    step.line,
                    f"Stasis app {named!r} is not the engine's ([ari] app = {ari_app!r}): "
                    "Asterisk would refuse these calls",
                )
            )
    return problems


def missing_contexts(
    loaded: Iterable[str], wanted: Mapping[str, str], dialplan_file: str
) -> list[Problem]:
    """A Problem for each context the engine sends calls to (name -> who sends them) that the
    dialplan Asterisk loaded lacks (in `dialplan_file`, the profile's dialplan)."""
    have = set(loaded)
    return [
        Problem(dialplan_file, None, f"no context [{name}]: {why} sends calls there")
        for name, why in wanted.items()
        if name not in have
    ]


def unknown_applications(dialplan: Dialplan, known: Iterable[str]) -> list[Problem]:
    """Applications Asterisk does not have (a typo, or a module not loaded): the call would
    hang up at that step. `known` is `core show applications`' list."""
    have = {name.lower() for name in known}
    return [
        Problem(
            step.file,
            step.line,
            f"no application {step.name!r} in Asterisk (a typo, or its module is not loaded)",
        )
        for step in dialplan.applications
        # An application named by a variable is known only when a call runs.
        if step.name and "$" not in step.name and step.name.lower() not in have
    ]


# Goto(context,exten,priority) and Gosub(context,exten,priority(args)): their context is
# looked up only when a call gets there.
_JUMPS = {"goto", "gosub"}


def jump_problems(dialplan: Dialplan, loaded: Iterable[str]) -> list[Problem]:
    """Every Goto() and Gosub() naming a context (three arguments, no variable) must find it:
    Asterisk accepts the dialplan and hangs the call up there."""
    have = set(loaded)
    problems = []
    for step in dialplan.applications:
        if step.name.lower() not in _JUMPS:
            continue
        target = step.arguments.split("(", 1)[0].split(",")
        if len(target) == 3 and "$" not in target[0] and target[0].strip() not in have:
            problems.append(
                Problem(
                    step.file,
                    step.line,
                    f"{step.name}() to context [{target[0].strip()}], which the dialplan lacks",
                )
            )
    return problems


def endpoint_contexts(pjsip_conf: str, file: str) -> dict[str, str]:
    """context -> who sends calls there, for each endpoint's `context =` in pjsip.conf."""
    wanted: dict[str, str] = {}
    section = ""
    for number, raw in enumerate(pjsip_conf.splitlines(), 1):
        line = _strip_comment(raw)
        if (header := _CONTEXT.match(line)) is not None:
            section = header["name"]
        elif (setting := re.match(r"^context\s*=>?\s*(\S+)$", line)) is not None:
            wanted.setdefault(setting[1], f"endpoint [{section}] ({file}:{number})")
    return wanted


# `dialplan show` heading of each context: [ Context 'from-pstn' created by 'pbx_config' ]
_SHOWN_CONTEXT = re.compile(r"^\[ Context '(?P<name>[^']+)' created by", re.MULTILINE)
# `core show applications`: "   Stasis: Invoke an external Stasis application."
_SHOWN_APPLICATION = re.compile(r"^\s*(?P<name>[\w-]+): ", re.MULTILINE)


def shown_contexts(output: str) -> set[str]:
    return set(_SHOWN_CONTEXT.findall(output))


def shown_applications(output: str) -> set[str]:
    return set(_SHOWN_APPLICATION.findall(output))
