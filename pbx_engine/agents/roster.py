"""An agents file (`pbx-engine agent import agents.csv`), parsed and checked before anything
is stored: every problem names its line, and one problem anywhere imports nothing. Pure.

Columns (a header line names them, in any order): login (required), name, team, endpoint
(the softphone's PJSIP endpoint, the login when left empty), role (agent, supervisor, admin)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

from pbx_engine.agents.softphones import BadEndpointName, check_endpoint_name
from pbx_engine.text import control_character_problem

COLUMNS = ("login", "name", "team", "endpoint", "role")
ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class RosterLine:
    line: int
    login: str
    name: str
    team: str | None
    endpoint: str
    role: str


@dataclass(frozen=True)
class RosterProblem:
    line: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.problem}"


@dataclass(frozen=True)
class Roster:
    agents: list[RosterLine]
    problems: list[RosterProblem]


def _header_problem(header: list[str] | None) -> str | None:
    if not header:
        return "empty file: the first line names the columns (login, name, team, endpoint)"
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        return f"unknown column(s) {', '.join(map(repr, unknown))}: use {', '.join(COLUMNS)}"
    if "login" not in header:
        return "no login column"
    if len(set(header)) != len(header):
        return "a column is named twice"
    return None


def _line(number: int, cells: dict[str, str]) -> RosterLine | str:
    """The agent on this line, or what is wrong with it."""
    for column, value in cells.items():
        problem = control_character_problem(value)
        if problem is not None:
            return f"{column} holds {problem}"
    login = cells.get("login", "")
    if not login:
        return "no login"
    endpoint = cells.get("endpoint") or login
    try:
        check_endpoint_name(endpoint)
    except BadEndpointName as error:
        return str(error) + ("" if cells.get("endpoint") else " (the login stands in for it)")
    role = cells.get("role") or "agent"
    if role not in ROLES:
        return f"role {role!r}: use {', '.join(ROLES)}"
    return RosterLine(
        number, login, cells.get("name") or login, cells.get("team") or None, endpoint, role
    )


def parse_roster(lines: Iterable[str]) -> Roster:
    """Lines of a CSV file (opened with newline=''); blank lines are skipped."""
    reader = csv.reader(lines)
    header = [c.strip().lower() for c in next(reader, [])]
    problem = _header_problem(header)
    if problem is not None:
        return Roster([], [RosterProblem(1, problem)])
    agents: list[RosterLine] = []
    problems: list[RosterProblem] = []
    first_of: dict[tuple[str, str], int] = {}
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                RosterProblem(number, f"{len(row)} cells, the header has {len(header)}")
            )
            continue
        parsed = _line(number, {c: v.strip() for c, v in zip(header, row, strict=True)})
        if isinstance(parsed, str):
            problems.append(RosterProblem(number, parsed))
            continue
        clash = _repeated(parsed, first_of)
        if clash is not None:
            problems.append(RosterProblem(number, clash))
            continue
        agents.append(parsed)
    return Roster(agents, problems)


def _repeated(agent: RosterLine, first_of: dict[tuple[str, str], int]) -> str | None:
    for key in (("login", agent.login), ("endpoint", agent.endpoint)):
        if key in first_of:
            return f"{key[0]} {key[1]!r} is on line {first_of[key]} already"
    for key in (("login", agent.login), ("endpoint", agent.endpoint)):
        first_of[key] = agent.line
    return None
