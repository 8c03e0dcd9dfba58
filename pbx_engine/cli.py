"""The `pbx-engine` command: run the service, migrate the database, check a config; and the
lab's commands (demo, prompts, AMD corpus and evaluation, benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from pbx_engine.config import ConfigError, EngineConfig, check_start_secrets, load_config
from pbx_engine.logs import configure_logging, logs_as_json

log = structlog.get_logger(__name__)

# The test bed and measuring tools: imported only inside the commands that use them (`demo`,
# `prompts`, `amd`, `bench`), so `run` never loads them and an image without them still runs.
LAB_PACKAGE = "pbx_engine.lab"


def _load_campaigns(config: EngineConfig) -> tuple[list, list[str]]:
    """The campaign files of `campaign_files`, and a line for each that cannot be read."""
    import glob

    from pbx_engine.campaigns.config import load_campaign

    campaigns, problems = [], []
    for pattern in config.campaign_files:
        paths = sorted(glob.glob(pattern))
        if not paths:
            problems.append(f"{pattern}: no campaign file matches")
        for path in paths:
            try:
                campaigns.append(load_campaign(path))
            except ConfigError as error:
                problems.append(str(error))
    return campaigns, problems


def _named_files_problems(config: EngineConfig) -> list[str]:
    """What check-config says of the files the config names (campaigns, number pools): `run`
    refuses to start on them before it connects to anything."""
    from pbx_engine.callerid.pools import load_pools

    _, problems = _load_campaigns(config)
    if config.number_pools_file is not None:
        try:
            load_pools(config.number_pools_file)
        except ConfigError as error:
            problems.append(str(error))
    problems += _templates_problems(config, [])
    return problems


def _templates_problems(config: EngineConfig, notes: list[str]) -> list[str]:
    """The messages file, checked as `run` loads it (a missing field fails here, not a send);
    each template's SMS length with a sample case goes into `notes`."""
    from pbx_engine.messaging.service import unknown_pay_link_template
    from pbx_engine.messaging.surveys import unknown_surveys
    from pbx_engine.messaging.templates import load_templates, sample_lengths

    if config.messages.templates_file is None:
        where = "no messages file"
        problems = [
            unknown_surveys(config.messages.survey_templates, [], where),
            unknown_pay_link_template(config, [], where),
        ]
        return [p for p in problems if p]
    try:
        templates = load_templates(config.messages.templates_file)
    except ConfigError as error:
        return [str(error)]
    where = str(config.messages.templates_file)
    problems = [
        unknown_surveys(config.messages.survey_templates, templates.names(), where),
        unknown_pay_link_template(config, templates.names(), where),
    ]
    if any(problems):
        return [p for p in problems if p]
    notes.append(f"message templates: {', '.join(templates.names()) or 'none'}")
    notes += [f"  {line}" for line in sample_lengths(templates)]
    return []


def _check_config(args: argparse.Namespace) -> int:
    """The config file and every file it names (campaigns, number pools), as `run` reads them;
    with --connect, then every connection and credential `run` will use; with --dialplan, the
    dialplan loaded into a throwaway Asterisk."""
    from pbx_engine.callerid.pools import load_pools

    try:
        config = load_config(args.file)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    problems, notes, detectors = [], [], []
    try:
        check_start_secrets(config, str(args.file))
    except ConfigError as error:
        if not args.connect:  # else the secrets line names every one unset
            problems.append(str(error))
    campaigns, campaign_problems = _load_campaigns(config)
    problems += campaign_problems
    for campaign in campaigns:
        notes.append(f"campaign {campaign.name} ({campaign.dial_mode})")
        if campaign.detector is not None:
            detectors.append(campaign.detector)
    if config.number_pools_file is not None:
        try:
            pools = load_pools(config.number_pools_file)
            count, named = len(pools.numbers()), len(pools.pools)
            notes.append(f"{count} caller-ID number(s) in {named} pool(s)")
        except ConfigError as error:
            problems.append(str(error))
    problems += _templates_problems(config, notes)
    if args.dialplan and not problems:
        problems += _check_dialplan(config, detectors, notes)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"{args.file}: ok (ARI {config.ari.url}, app {config.ari.app}, "
        f"database {config.database.name if not config.database.dsn else 'from dsn'})"
    )
    for note in notes:
        print(f"  {note}")
    return asyncio.run(_check_connections(config)) if args.connect else 0


def _dialplan_values(config: EngineConfig, run_dir: Path | None = None) -> dict[str, str]:
    from pbx_engine.asterisk_config import engine_values
    from pbx_engine.config import read_text

    agents_file = config.asterisk.agents_file
    agents = read_text(agents_file) if agents_file is not None else ""
    return engine_values(config, run_dir, agents)


def _engine_detectors(config: EngineConfig, campaigns: list) -> list:
    from pbx_engine.amd.detectors import default_detector

    return [default_detector(config.dialer.amd_detector, config.dialer.amd_context), *campaigns]


def _check_dialplan(config: EngineConfig, campaigns: list, notes: list[str]) -> list[str]:
    """The dialplan and Asterisk config, loaded into a throwaway Asterisk: its problems."""
    from pbx_engine.asterisk_config.validate import validate_dialplan

    try:
        validation = asyncio.run(
            validate_dialplan(
                _dialplan_values(config),
                ari_app=config.ari.app,
                detectors=_engine_detectors(config, campaigns),
            )
        )
    except ConfigError as error:
        return [str(error)]
    seconds = f"{validation.seconds:.1f} s"
    notes.append(f"dialplan: {len(validation.contexts)} context(s) loaded by Asterisk ({seconds})")
    return [str(problem) for problem in validation.problems]


def _asterisk_reload(args: argparse.Namespace) -> int:
    from pbx_engine.asterisk_config.validate import reload_dialplan

    config = load_config(args.config)
    campaigns, problems = _load_campaigns(config)
    if problems:
        raise ConfigError("\n".join([*problems, "the dialplan was not reloaded: nothing changed"]))
    detectors = [c.detector for c in campaigns if c.detector is not None]
    run_dir = Path(args.out or config.asterisk.run_dir).absolute()
    validation, answer = asyncio.run(
        reload_dialplan(
            _dialplan_values(config, run_dir),
            run_dir,
            ari_app=config.ari.app,
            detectors=_engine_detectors(config, detectors),
        )
    )
    print(
        f"dialplan checked in {validation.seconds:.1f} s and reloaded in {run_dir / 'etc'}: "
        f"{answer.strip()}"
    )
    return 0


async def _check_connections(config: EngineConfig) -> int:
    from pbx_engine.connection_checks.policy import report
    from pbx_engine.connection_checks.probes import check_connections

    lines, exit_code = report(await check_connections(config))
    for line in lines:
        print(line)
    return exit_code


async def _migrate(args: argparse.Namespace) -> int:
    from pbx_engine.storage import Storage, migrate

    config = load_config(args.config)
    async with Storage.open(config.database) as storage:
        applied = await migrate(storage.pool)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))
    return 0


def _import_cases(args: argparse.Namespace) -> int:
    from pbx_engine.cases.importer import FileError, parse_cases

    config = load_config(args.config)
    started = time.monotonic()
    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            batch = parse_cases(handle, config.default_region, creditor=args.creditor)
    except OSError as error:
        print(f"{args.file}: cannot read: {error.strerror or error}", file=sys.stderr)
        return 1
    except (FileError, UnicodeDecodeError, csv.Error) as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 1
    result = asyncio.run(_load_cases(config, batch.rows, args.campaign))
    errors = sorted([*batch.errors, *result.rejected], key=lambda e: e.line)
    elapsed = time.monotonic() - started
    print(
        f"{args.file}: {result.inserted} new case(s), {result.updated} updated, "
        f"{result.phone_numbers} phone number(s), {len(errors)} row(s) rejected "
        f"in {elapsed:.1f}s"
    )
    for error in errors[: args.max_errors]:
        print(f"  {error}", file=sys.stderr)
    if len(errors) > args.max_errors:
        print(f"  ... and {len(errors) - args.max_errors} more", file=sys.stderr)
    if result.invalid_numbers:
        print(
            f"{len(result.invalid_numbers)} number(s) not valid in their country's numbering "
            "plan: loaded, on the dead-number list, never dialled or texted",
            file=sys.stderr,
        )
        for line, _, reason in result.invalid_numbers[: args.max_errors]:
            print(f"  line {line}: {reason}", file=sys.stderr)
    return 0 if not errors else 2


async def _load_cases(config, rows, campaign):
    from pbx_engine.storage import Storage, migrate

    async with Storage.open(config.database) as storage:
        await migrate(storage.pool)
        return await storage.cases.import_cases(rows, campaign=campaign)


async def _agent(args: argparse.Namespace) -> int:
    from pbx_engine.agents.accounts import EnrolmentRefused
    from pbx_engine.ari.errors import AriError, AriUnavailable
    from pbx_engine.storage import Storage, migrate
    from pbx_engine.text import control_character_problem

    for field in ("login", "name", "endpoint", "team"):
        value = getattr(args, field, None)
        problem = control_character_problem(value) if isinstance(value, str) else None
        if problem is not None:
            print(f"the agent's {field} holds {problem}", file=sys.stderr)
            return 2
    config = load_config(args.config)
    issued = []
    async with Storage.open(config.database) as storage:
        await migrate(storage.pool)
        if args.what == "add":
            try:
                issued = await _add_agent(config, storage, args)
            except EnrolmentRefused as refused:
                print(f"agent {args.login!r} not added: {refused}", file=sys.stderr)
                return 1
            except (AriError, AriUnavailable) as error:
                print(f"{_ari_unavailable(config)}: {error}", file=sys.stderr)
                return 1
        if await storage.agent_access.is_disabled(args.login):
            print(f"agent {args.login!r} is disabled (`agent enable` first)", file=sys.stderr)
            return 1
        days = args.days if args.days is not None else config.web.token_lifetime_days
        issued_token = await storage.signin.issue_token(
            args.login, datetime.now(UTC) + timedelta(days=days)
        )
    if issued_token is None:
        print(f"no agent with login {args.login!r}", file=sys.stderr)
        return 1
    print(issued_token.token)  # alone on standard output, for scripts
    print(f"expires {issued_token.expires_at.isoformat(timespec='seconds')}", file=sys.stderr)
    for account in issued:
        print(_sip_password_line(account), file=sys.stderr)
    return 0


def _ari_unavailable(config: EngineConfig) -> str:
    return (
        f"the agent's softphone account needs Asterisk's ARI at {config.ari.url} ([ari] in the "
        "config); nothing was stored (--no-endpoint adds him without one)"
    )


def _sip_password_line(account) -> str:
    if account.password is None:
        return f"SIP endpoint {account.endpoint}: kept, its password unchanged"
    return f"SIP password for {account.endpoint}: {account.password}  (shown once)"


async def _add_agent(config: EngineConfig, storage, args: argparse.Namespace):
    from pbx_engine.agents.accounts import NewAgent, SoftphoneAccounts
    from pbx_engine.ari.client import AriClient

    agent = NewAgent(
        args.login,
        args.name or args.login,
        team=args.team,
        role=args.role,
        endpoint=args.endpoint,
        existing_endpoint=args.existing_endpoint,
        softphone=not args.no_endpoint,
    )
    async with AriClient(config.ari, events=False) as ari:
        accounts = SoftphoneAccounts(storage, ari, config.asterisk.agent_rtp_timeout)
        return await accounts.enrol([agent])


def _import_agents(args: argparse.Namespace) -> int:
    from pbx_engine.agents.roster import parse_roster

    try:
        with open(args.file, encoding="utf-8-sig", newline="") as handle:
            roster = parse_roster(handle)
    except OSError as error:
        print(f"{args.file}: cannot read: {error.strerror or error}", file=sys.stderr)
        return 1
    except (UnicodeDecodeError, csv.Error) as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 1
    if roster.problems:
        print(f"{args.file}: nothing imported:", file=sys.stderr)
        for problem in roster.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    config = load_config(args.config)
    return asyncio.run(_enrol_roster(config, args.file, roster.agents))


async def _enrol_roster(config: EngineConfig, file: Path, lines) -> int:
    from pbx_engine.agents.accounts import EnrolmentRefused, NewAgent, SoftphoneAccounts
    from pbx_engine.ari.client import AriClient
    from pbx_engine.ari.errors import AriError, AriUnavailable
    from pbx_engine.storage import Storage, migrate

    agents = [NewAgent(a.login, a.name, a.team, a.role, a.endpoint, line=a.line) for a in lines]
    async with Storage.open(config.database) as storage, AriClient(config.ari, events=False) as ari:
        await migrate(storage.pool)
        accounts = SoftphoneAccounts(storage, ari, config.asterisk.agent_rtp_timeout)
        try:
            issued = await accounts.enrol(agents)
        except EnrolmentRefused as refused:
            print(f"{file}: nothing imported:", file=sys.stderr)
            for line, problem in refused.problems:
                print(f"  line {line}: {problem}" if line else f"  {problem}", file=sys.stderr)
            return 2
        except (AriError, AriUnavailable) as error:
            print(f"{file}: nothing imported: {_ari_unavailable(config)}: {error}", file=sys.stderr)
            return 1
    print(f"{file}: {len(agents)} agent(s) imported; give each his SIP password and a token")
    for account in issued:
        print(_sip_password_line(account))
    return 0


def _positive_days(text: str) -> float:
    days = float(text)
    if not 0 < days <= 3650:
        raise argparse.ArgumentTypeError("days run from more than 0 to 3650")
    return days


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


async def _agent_password(args: argparse.Namespace) -> int:
    from pbx_engine.signin.passwords import WeakPassword, hash_password
    from pbx_engine.storage import Storage, migrate

    try:
        hashed = hash_password(_read_password())
    except (ValueError, WeakPassword) as error:
        print(error, file=sys.stderr)
        return 2
    config = load_config(args.config)
    async with Storage.open(config.database) as storage:
        await migrate(storage.pool)
        if not await storage.sessions.set_password(args.login, hashed):
            print(f"no agent with login {args.login!r}", file=sys.stderr)
            return 1
    print(f"password set for {args.login}; his browser sessions were closed")
    return 0


async def _agent_access(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pbx_engine.storage import Storage, migrate

    config = load_config(args.config)
    async with Storage.open(config.database) as storage:
        await migrate(storage.pool)
        if args.what == "disable":
            disabled = await storage.agent_access.disable(args.login, datetime.now(UTC))
            if disabled is None:
                print(f"no enabled agent with login {args.login!r}", file=sys.stderr)
                return 1
            print(
                f"{args.login} disabled: token revoked, {disabled.sessions_closed} browser "
                f"session(s) closed, {disabled.links_revoked} invitation link(s) revoked"
            )
            print(await _softphone_follows(config, storage, args.login, enabled=False))
            return 0
        if not await storage.agent_access.enable(args.login):
            print(f"no disabled agent with login {args.login!r}", file=sys.stderr)
            return 1
        note = await _softphone_follows(config, storage, args.login, enabled=True)
    print(f"{args.login} enabled: give him a new token or password")
    print(note)
    return 0


async def _softphone_follows(config: EngineConfig, storage, login: str, *, enabled: bool) -> str:
    """His managed softphone account follows him out of Asterisk or back in."""
    from pbx_engine.agents.accounts import SoftphoneAccounts
    from pbx_engine.ari.client import AriClient
    from pbx_engine.ari.errors import AriError, AriUnavailable

    if await storage.softphones.account_of(login) is None:
        return "no softphone account managed by the engine"
    async with AriClient(config.ari, events=False) as ari:
        accounts = SoftphoneAccounts(storage, ari, config.asterisk.agent_rtp_timeout)
        try:
            endpoint = await (accounts.restore if enabled else accounts.withdraw)(login)
        except (AriError, AriUnavailable):
            endpoint = None
    if endpoint is None:
        return "softphone account: Asterisk unreachable, done when the engine next connects"
    return f"softphone account {endpoint} {'pushed to' if enabled else 'removed from'} Asterisk"


async def _run(args: argparse.Namespace) -> int:
    from pbx_engine.engine import serve

    config = load_config(args.config)
    check_start_secrets(config, str(args.config))
    problems = _named_files_problems(config)
    if problems:
        # A container would otherwise connect, fail on them, and loop on restart.
        raise ConfigError("\n".join(problems))
    configure_logging(
        config.logging.level, config.logging.format, mask_numbers=config.logging.mask_numbers
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(config, stop, apply_migrations=not args.no_migrate)
    return 0


async def _demo(args: argparse.Namespace) -> int:
    from pbx_engine.lab.demo import run_demo

    return await run_demo(
        debtors=args.debtors,
        agents=args.agents,
        mode=args.mode,
        as_json=args.json,
        keep=args.keep,
        seed=args.seed,
    )


async def _bench_load(args: argparse.Namespace) -> int:
    from pbx_engine.lab.load import run_load

    return await run_load(
        agents=args.agents,
        rates=args.rates,
        step_seconds=args.step_seconds,
        as_json=args.json,
        seed=args.seed,
        profile=args.profile,
    )


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: calls a second, as 2,4,8") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: each rate above 0")
    return rates


def _bench_pacing(args: argparse.Namespace) -> int:
    import json

    from pbx_engine.lab.pacing.bench import DEFAULT_POLICIES, format_table, run_bench
    from pbx_engine.lab.pacing.plot import timeline_svg
    from pbx_engine.lab.pacing.scenario import load_scenario
    from pbx_engine.pacing import POLICY_NAMES

    policies = args.policy or list(DEFAULT_POLICIES)
    unknown = [p for p in policies if p not in POLICY_NAMES]
    if unknown:
        print(f"unknown policy {unknown[0]!r} (known: {', '.join(POLICY_NAMES)})", file=sys.stderr)
        return 1
    scenarios = [load_scenario(path) for path in args.scenario]  # all checked before running
    if args.plot and len(scenarios) > 1:
        print("--plot takes one scenario at a time", file=sys.stderr)
        return 1
    rows: list[dict] = []
    for scenario in scenarios:
        seeds = args.seeds or scenario.campaign.seeds
        started = time.monotonic()
        summaries = run_bench(scenario, policies, seeds=seeds, jobs=args.jobs)
        elapsed = time.monotonic() - started
        rows += [s.as_json(scenario.name) for s in summaries]
        if not args.json:
            print(format_table(scenario, summaries, seeds))
            print(f"  ({len(policies) + 1} x {seeds} shifts simulated in {elapsed:.1f} s)\n")
        if args.plot:
            args.plot.write_text(
                timeline_svg(
                    f"{scenario.name}: {scenario.agents.count} agents, mean of {seeds} seeds",
                    summaries,
                    duration_seconds=scenario.campaign.duration_seconds,
                    abandon_target=scenario.campaign.abandon_target,
                ),
                encoding="utf-8",
            )
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


async def _prompts(args: argparse.Namespace) -> int:
    from pbx_engine.lab.prompts import build_prompts
    from pbx_engine.routing.prompts import PROMPTS

    unknown = [lang for lang in args.language or [] if lang not in PROMPTS]
    if unknown:
        print(f"no prompts in {unknown[0]!r} (have: {', '.join(PROMPTS)})", file=sys.stderr)
        return 1
    made = await build_prompts(args.directory, args.language)
    print(f"{len(made)} prompt(s) in {args.directory}; set [inbound] menu_prompts to it")
    return 0


async def _amd_corpus(args: argparse.Namespace) -> int:
    if args.classic:
        from pbx_engine.lab.amd.corpus import build_corpus

        made = await build_corpus(args.directory, per_label=args.per_label, seed=args.seed)
        print(f"{len(made)} file(s) in {args.directory}/human and {args.directory}/machine")
        return 0
    from pbx_engine.lab.amd.hard_corpus import build_corpus as build_hard_corpus

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            print(f"  {done}/{total}", file=sys.stderr)

    made = await build_hard_corpus(
        args.directory, copies=args.copies, seed=args.seed, progress=progress
    )
    test = sum(m.item.split == "test" for m in made)
    print(
        f"{len(made)} file(s) in {args.directory}/{{human,machine,screened}} "
        f"({len(made) - test} tune, {test} test); manifest.json lists them"
    )
    return 0


async def _bench_amd(args: argparse.Namespace) -> int:
    import json

    from pbx_engine.amd.detectors import DETECTORS
    from pbx_engine.lab.amd.bench import format_results, run_amd_bench

    detectors = args.detector or list(DETECTORS)

    def progress(name: str, done: int, total: int) -> None:
        if not args.json and (done % 20 == 0 or done == total):
            print(f"  {name}: {done}/{total}", file=sys.stderr)

    try:
        results = await run_amd_bench(
            args.corpus,
            detectors,
            concurrency=args.concurrency,
            progress=progress,
            split=args.split,
        )
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    else:
        print(format_results(results))
    return 0


async def _amd_evaluate(args: argparse.Namespace) -> int:
    import json

    from pbx_engine.amd.beep import BeepSettings
    from pbx_engine.amd.listener import ListenerSettings
    from pbx_engine.lab.amd.bench import format_results
    from pbx_engine.lab.amd.figures import by_split, format_splits
    from pbx_engine.lab.amd.offline import (
        LEAD_IN_S,
        evaluate_corpus,
        evaluate_drop,
        evaluate_files,
        format_drop,
    )

    try:
        changes = dict(item.split("=", 1) for item in args.set or [])
        settings = ListenerSettings().with_changes(**changes)
        beep_changes = dict(item.split("=", 1) for item in args.beep_set or [])
        beep_settings = BeepSettings().with_changes(**beep_changes)
        if args.drop:
            drop = await evaluate_drop(args.corpus, settings, beep_settings)
        elif args.splits:
            model = _learned_model(args.model) if args.detector == "learned" else None
            judged = await evaluate_files(args.corpus, settings, model=model)
            splits = by_split(judged, LEAD_IN_S)
        else:
            result = await evaluate_corpus(args.corpus, settings)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    if args.drop:
        print(json.dumps(drop.as_json(), indent=2) if args.json else format_drop(drop))
    elif args.splits and args.json:
        data = {s: {g: f.as_json() for g, f in groups.items()} for s, groups in splits.items()}
        print(json.dumps(data, indent=2))
    elif args.splits:
        print(format_splits(args.detector, splits))
    elif args.json:
        print(json.dumps([result.as_json()], indent=2))
    else:
        print(format_results([result]))
    return 0


def _learned_model(path: Path | None):
    import json

    from pbx_engine.amd.learned import AmdModel, shipped_model

    if path is None:
        return shipped_model()
    return AmdModel.from_json(path.name, json.loads(path.read_text(encoding="utf-8")))


async def _amd_train(args: argparse.Namespace) -> int:
    import json
    import shlex

    from pbx_engine.amd.learned import LearnedSettings
    from pbx_engine.lab.amd.figures import figures
    from pbx_engine.lab.amd.offline import LEAD_IN_S, evaluate_files
    from pbx_engine.lab.amd.train import read_corpora, train, write_model

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        points = await read_corpora(args.corpus, LearnedSettings())
        recipe = {
            "command": "pbx-engine amd train " + " ".join(shlex.quote(str(c)) for c in args.corpus),
            "corpora": [_corpus_recipe(c) for c in args.corpus],
        }
        data, report = train(points, recipe, log=say)
    except (FileNotFoundError, ValueError) as error:
        print(error, file=sys.stderr)
        return 1
    write_model(data, args.out)
    say(f"model written to {args.out}")
    # The test split, judged by the written model as the engine runs it; read only now.
    model = _learned_model(args.out)
    test = [p.file for p in points if p.file.split == "test"]
    if test:
        judged = await evaluate_files(args.corpus[0], model=model, files=test)
        report["test"] = figures(judged, LEAD_IN_S).as_json()
    print(json.dumps(report, indent=2))
    return 0


def _corpus_recipe(directory: Path) -> dict:
    import json

    manifest = directory / "manifest.json"
    if not manifest.exists():
        return {"folder": directory.name}
    data = json.loads(manifest.read_text(encoding="utf-8"))
    return {"generator": "pbx-engine amd corpus", "seed": data["seed"], "copies": data["copies"]}


def _asterisk_render(args: argparse.Namespace) -> int:
    from pbx_engine.asterisk_config import engine_values, render_profile, write_runtime
    from pbx_engine.config import read_text

    config = load_config(args.config)
    run_dir = Path(args.out or config.asterisk.run_dir).absolute()
    agents_file = config.asterisk.agents_file
    agents = read_text(agents_file) if agents_file is not None else ""
    files = render_profile("engine", engine_values(config, run_dir, agents, args.node))
    written = write_runtime(run_dir, files, data_dir=config.asterisk.data_dir, owner=args.owner)
    print(f"{len(written)} file(s) in {run_dir / 'etc'}; the folders Asterisk writes to are made")
    conf = run_dir / "etc" / "asterisk.conf"
    if args.owner:
        print(f"start it with: asterisk -U {args.owner} -G {args.owner} -C {conf} -f")
    else:
        print(f"start it with: asterisk -C {conf} -f")
        if os.geteuid() == 0:
            print("  (the folder is root's: Asterisk run as another user needs --owner USER)")
    return 0


def _add_asterisk_commands(commands: argparse._SubParsersAction) -> None:
    asterisk = commands.add_parser("asterisk", help="Asterisk's side").add_subparsers(
        dest="what", required=True
    )
    render = asterisk.add_parser(
        "render",
        help="write Asterisk's configuration from asterisk-config/ and dialplans/, filled from "
        "the engine's config, and make the folders Asterisk writes to",
    )
    render.add_argument("--config", type=Path, required=True)
    render.add_argument(
        "--out", type=Path, help="the runtime folder (default: [asterisk] run_dir); etc/ in it"
    )
    render.add_argument("--owner", help="hand the folder to this user and group (e.g. asterisk)")
    render.add_argument(
        "--node",
        help="the media node rendered for: one of [[ari.nodes]], on its own host (default: "
        "[ari] node); its url's host, https, is where it serves ARI over TLS",
    )
    render.set_defaults(handler=_asterisk_render)
    reload = asterisk.add_parser(
        "reload",
        help="check the dialplan in a throwaway Asterisk; only when it passes, write it into "
        "the runtime folder and have the running Asterisk reload it (dialplan reload)",
    )
    reload.add_argument("--config", type=Path, required=True)
    reload.add_argument(
        "--out", type=Path, help="the live runtime folder (default: [asterisk] run_dir)"
    )
    reload.set_defaults(handler=_asterisk_reload)


def _kamailio_render(args: argparse.Namespace) -> int:
    from pbx_engine.edge.kamailio import EdgeError, EdgeSettings, write_edge

    nodes = [node for given in args.node for node in given.split(",") if node]
    try:
        settings = EdgeSettings.checked(args.listen, nodes, args.probe_seconds)
        config = write_edge(args.out, settings)
    except EdgeError as error:
        print(f"kamailio render: {error}", file=sys.stderr)
        return 2
    print(f"{config} and {config.parent / 'nodes.list'}: {len(nodes)} node(s)")
    print(f"start it with: kamailio -DD -E -f {config}")
    return 0


def _add_kamailio_commands(commands: argparse._SubParsersAction) -> None:
    kamailio = commands.add_parser("kamailio", help="the SIP edge in front of the nodes")
    render = kamailio.add_subparsers(dest="what", required=True).add_parser(
        "render",
        help="write Kamailio's configuration (kamailio/kamailio.cfg filled in) and its list of "
        "Asterisk nodes",
    )
    render.add_argument(
        "--listen", default="udp:0.0.0.0:5060", help="where carriers send (udp:ADDRESS:PORT)"
    )
    render.add_argument(
        "--node",
        action="append",
        required=True,
        help="an Asterisk node, sip:ADDRESS:PORT (repeat, or separate with commas)",
    )
    render.add_argument("--probe-seconds", type=int, default=1, help="between OPTIONS probes")
    render.add_argument("--out", type=Path, required=True, help="the folder it runs from")
    render.set_defaults(handler=_kamailio_render)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pbx-engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_service_commands(commands)
    _add_asterisk_commands(commands)
    _add_kamailio_commands(commands)
    _add_import_commands(commands)
    _add_agent_commands(commands)
    _add_message_commands(commands)
    _add_demo_command(commands)
    _add_prompts_command(commands)
    _add_bench_commands(commands)
    _add_amd_commands(commands)
    return parser


def _add_service_commands(commands: argparse._SubParsersAction) -> None:
    """check-config, migrate and run: what operating the service needs."""
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--connect",
        action="store_true",
        help="then try PostgreSQL, ARI and AMI with the file's settings and credentials, "
        "one line each (exit 1 when one fails)",
    )
    check.add_argument(
        "--dialplan",
        action="store_true",
        help="then load the dialplan and Asterisk's config, rendered as `asterisk render` does, "
        "into a throwaway Asterisk (about 1.5 s; needs asterisk on this host): its complaints "
        "with file and line, contexts the engine sends calls to, Stasis app names",
    )
    check.set_defaults(handler=_check_config)

    mig = commands.add_parser("migrate", help="apply pending database migrations from sql/")
    mig.add_argument("--config", type=Path, required=True)
    mig.set_defaults(handler=_migrate)

    run = commands.add_parser("run", help="serve until SIGTERM, then drain live calls")
    run.add_argument("--config", type=Path, required=True)
    run.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start")
    run.set_defaults(handler=_run)


def _add_import_commands(commands: argparse._SubParsersAction) -> None:
    imports = commands.add_parser("import", help="load data files").add_subparsers(
        dest="what", required=True
    )
    cases = imports.add_parser("cases", help="load debtors' cases from a CSV file")
    cases.add_argument("file", type=Path)
    cases.add_argument("--config", type=Path, required=True)
    cases.add_argument("--campaign", help="campaign the cases belong to (created if new)")
    cases.add_argument("--creditor", help="creditor for rows without a creditor column")
    cases.add_argument("--max-errors", type=int, default=50, help="rejected rows to list")
    cases.set_defaults(handler=_import_cases)


def _add_agent_commands(commands: argparse._SubParsersAction) -> None:
    agent = commands.add_parser("agent", help="manage agents").add_subparsers(
        dest="what", required=True
    )
    add = agent.add_parser("add", help="add or update an agent and print a new API token")
    add.add_argument("login")
    add.add_argument("--name")
    add.add_argument(
        "--endpoint",
        help="the PJSIP endpoint of his softphone, created in Asterisk with a new SIP password "
        "(default: the one he has, else his login)",
    )
    softphone = add.add_mutually_exclusive_group()
    softphone.add_argument(
        "--existing-endpoint",
        action="store_true",
        help="--endpoint names one written in Asterisk's files ([asterisk] agents_file): "
        "use it as it is",
    )
    softphone.add_argument(
        "--no-endpoint", action="store_true", help="no softphone (a browser-only supervisor)"
    )
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    add.add_argument("--team")
    token = agent.add_parser(
        "token", help="print a new API token with an expiry (the old one stops working)"
    )
    token.add_argument("login")
    for sub in (add, token):
        sub.add_argument("--config", type=Path, required=True)
        sub.add_argument(
            "--days",
            type=_positive_days,
            help="the token expires after this many days (default: [web] token_lifetime_days)",
        )
        sub.set_defaults(handler=_agent)
    password = agent.add_parser(
        "password",
        help="set the password for signing in from a browser (asked twice, or read from stdin)",
    )
    password.add_argument("login")
    password.add_argument("--config", type=Path, required=True)
    password.set_defaults(handler=_agent_password)
    disable = agent.add_parser(
        "disable",
        help="no token, browser session or sign-in works for him; his invitation links die",
    )
    enable = agent.add_parser("enable", help="let a disabled agent sign in again")
    for sub in (disable, enable):
        sub.add_argument("login")
        sub.add_argument("--config", type=Path, required=True)
        sub.set_defaults(handler=_agent_access)
    bulk = agent.add_parser(
        "import",
        help="add or update agents from a CSV file (login, name, team, endpoint, role), each "
        "with a softphone account; one bad line imports nothing",
    )
    bulk.add_argument("file", type=Path)
    bulk.add_argument("--config", type=Path, required=True)
    bulk.set_defaults(handler=_import_agents)


def _add_message_commands(commands: argparse._SubParsersAction) -> None:
    message = commands.add_parser("message", help="messages to debtors").add_subparsers(
        dest="what", required=True
    )
    send = message.add_parser(
        "send", help="send a case's debtor a message from the templates (the rules apply)"
    )
    send.add_argument("reference", help="the case's reference at its creditor")
    send.add_argument("--creditor", help="when two creditors use the same reference")
    send.add_argument("--template", required=True)
    send.add_argument("--channel", choices=("email", "sms"), required=True)
    send.add_argument("--config", type=Path, required=True)
    send.set_defaults(handler=_message_send)


async def _message_send(args: argparse.Namespace) -> int:
    from pbx_engine.messaging.service import MessageError, build_message_service
    from pbx_engine.storage import Storage

    config = load_config(args.config)
    async with Storage.open(config.database) as storage:
        cases = await storage.pool.fetch(
            "SELECT id, creditor FROM cases WHERE reference = $1 "
            "AND ($2::text IS NULL OR creditor = $2)",
            args.reference,
            args.creditor,
        )
        if len(cases) != 1:
            found = ", ".join(c["creditor"] for c in cases)
            print(
                f"no case {args.reference!r}" if not cases else
                f"case {args.reference!r} is at {found}: say which with --creditor",
                file=sys.stderr,
            )  # fmt: skip
            return 1
        service = build_message_service(config, storage)
        try:
            result = await service.send(cases[0]["id"], args.template, args.channel)
        except MessageError as error:
            print(error, file=sys.stderr)
            return 1
    print(
        f"message {result.message_id}: {result.status}"
        + (f" ({result.reason})" if result.reason else "")
    )
    return 0 if result.status == "sent" else 2


def _add_demo_command(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run a sample campaign on sandboxes and report")
    demo.add_argument("--keep", action="store_true", help="keep the sandboxes' runtime folders")
    demo.add_argument("--debtors", type=int, default=150, help="sample debtors to import")
    demo.add_argument("--agents", type=int, default=5, help="agents with softphones")
    demo.add_argument("--mode", choices=["progressive", "predictive"], default="progressive")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    demo.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="error",
        help="the engine's log lines on stderr (info: every call and agent state change)",
    )
    demo.set_defaults(handler=_demo)


def _add_prompts_command(commands: argparse._SubParsersAction) -> None:
    prompts = commands.add_parser(
        "prompts", help="make the debtor menu's prompts (espeak-ng) into a folder Asterisk reads"
    )
    prompts.add_argument("directory", type=Path)
    prompts.add_argument("--language", action="append", help="en, pl, es, de (default: all)")
    prompts.set_defaults(handler=_prompts)


def _add_bench_commands(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks").add_subparsers(
        dest="what", required=True
    )
    pacing = bench.add_parser(
        "pacing", help="simulate pacing policies on scenario files, against the clairvoyant bound"
    )
    pacing.add_argument("scenario", type=Path, nargs="+", help="scenario file(s) (TOML)")
    pacing.add_argument(
        "--policy",
        action="append",
        help="policy to run (repeatable; default: progressive, ratio, adaptive, predictive)",
    )
    pacing.add_argument("--seeds", type=int, help="shifts per policy (default: the scenario's)")
    pacing.add_argument("--jobs", type=int, help="processes to use (default: one per core)")
    pacing.add_argument("--json", action="store_true", help="print a JSON list, one per policy")
    pacing.add_argument("--plot", type=Path, help="write an SVG chart of the shift here")
    pacing.set_defaults(handler=_bench_pacing)
    amd = bench.add_parser("amd", help="play a labelled corpus into real calls, per detector")
    amd.add_argument("corpus", type=Path, help="a folder with human/ and machine/ audio files")
    amd.add_argument("--detector", action="append", help="detector (repeatable; default: all)")
    amd.add_argument("--concurrency", type=int, default=6, help="calls at a time")
    amd.add_argument(
        "--split",
        choices=["tune", "test"],
        help="only this split of a corpus made by `amd corpus` (call screening as machines)",
    )
    amd.add_argument("--json", action="store_true", help="print a JSON list, one per detector")
    amd.set_defaults(handler=_bench_amd)
    load = bench.add_parser(
        "load", help="step the call rate up on sandboxes until a part of the floor gives out"
    )
    load.add_argument("--agents", type=int, default=30, help="SIPp softphones (default 30)")
    load.add_argument(
        "--rates",
        type=_rates,
        default=[2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0, 20.0],
        help="calls placed a second, per step (default 2,4,6,8,10,12,16,20)",
    )
    load.add_argument("--step-seconds", type=float, default=30.0, help="each step's length")
    load.add_argument("--seed", type=int, default=1, help="of the numbers' mix")
    load.add_argument("--json", action="store_true", help="print one JSON object")
    load.add_argument(
        "--profile", type=Path, help="sample the engine with py-spy into this file (collapsed)"
    )
    load.set_defaults(handler=_bench_load)


def _add_amd_commands(commands: argparse._SubParsersAction) -> None:
    amd_tools = commands.add_parser("amd", help="answering-machine detection tools").add_subparsers(
        dest="what", required=True
    )
    corpus = amd_tools.add_parser(
        "corpus",
        help="make a labelled corpus with espeak-ng and sox: people, machines and call "
        "screening in six languages, with tune and test splits",
    )
    corpus.add_argument("directory", type=Path)
    corpus.add_argument("--copies", type=int, default=4, help="files per template")
    corpus.add_argument("--seed", type=int, default=1)
    corpus.add_argument(
        "--classic",
        action="store_true",
        help="the first corpus instead: one sentence per file, people and machines only",
    )
    corpus.add_argument(
        "--per-label", type=int, default=60, help="with --classic: people, and as many machines"
    )
    corpus.set_defaults(handler=_amd_corpus)
    evaluate = amd_tools.add_parser(
        "evaluate", help="run the engine's listener on a corpus's files, without a PBX"
    )
    evaluate.add_argument("corpus", type=Path, help="a folder with human/ and machine/ audio files")
    evaluate.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="change a listener setting, e.g. max_greeting_ms=2500 (repeatable)",
    )
    evaluate.add_argument(
        "--drop",
        action="store_true",
        help="measure the message drop: from a machine's beep (or greeting) end to go",
    )
    evaluate.add_argument(
        "--beep-set",
        action="append",
        metavar="NAME=VALUE",
        help="change a beep listener setting, e.g. silence_ms=1000 (repeatable; with --drop)",
    )
    evaluate.add_argument(
        "--splits",
        action="store_true",
        help="figures per split (tune, test) and language, with people's dead air after their "
        "first utterance",
    )
    evaluate.add_argument(
        "--detector",
        choices=["engine", "learned"],
        default="engine",
        help="with --splits: the energy listener (engine) or the learned model",
    )
    evaluate.add_argument(
        "--model", type=Path, help="with --detector learned: a model file (default: shipped)"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(handler=_amd_evaluate)
    train = amd_tools.add_parser(
        "train", help="fit the learned detector on corpora made by `amd corpus` (scikit-learn)"
    )
    train.add_argument("corpus", type=Path, nargs="+", help="corpus folders (tune split read)")
    train.add_argument("--out", type=Path, required=True, help="the model file to write")
    train.set_defaults(handler=_amd_train)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "run":
        configure_logging(args.log_level if args.command == "demo" else "warning", "console")
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    except Exception as error:
        return _report_failure(error, args.command)
    except KeyboardInterrupt:
        return 130


def _report_failure(error: Exception, command: str) -> int:
    """A failure the operator can fix (database, ARI, AMI, a taken port, the lab missing):
    one line naming the cause and the fix, exit code 1; anything else is a bug: re-raised, so
    its traceback shows."""
    from pbx_engine.startup import operator_message

    if isinstance(error, ModuleNotFoundError) and (error.name or "").startswith(LAB_PACKAGE):
        # The production image leaves the lab out; its commands say so instead of a traceback.
        print(
            f"`pbx-engine {command}` needs the lab ({LAB_PACKAGE}), which this installation "
            "leaves out; run it from a source checkout",
            file=sys.stderr,
        )
        return 1
    message = operator_message(error)
    if message is None:
        raise error
    if logs_as_json():
        # Under journald or docker every line of stderr is a JSON object, this one too.
        log.error("engine.cannot_start", problem=message)
    else:
        print(f"pbx-engine: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
