"""`pbx-engine bench load`: how many calls a second one engine process drives on this machine,
and which part gives out first.

The demo's floor (PostgreSQL, the engine's Asterisk, the PSTN Asterisk answering with the
demo's mix of people, voicemail, busy lines and no answer, SIPp softphones for the agents, whom
simulated agents work) takes calls placed through the engine's dialer at a rate that steps up.
Each step reports, from the engine's own metrics, the database and /proc:

- originates per second placed, and the concurrent channels at their peak;
- ARI events per second handled, and their lag (Asterisk's event timestamp to the engine's
  routing of it) p50/p99, estimated from the histogram's buckets as Prometheus does;
- the engine's part of the dead air: verdict to bridge for people whose agent was free at the
  verdict (`pbx_engine_bridge_seconds`), and all the dead air people heard (from the attempts);
- the engine process's CPU milliseconds and the ARI events per placed call, each call counted
  whole (read once the step's calls have all ended);
- database rows written per second, and query time p99;
- each part's CPU (engine, engine Asterisk, PSTN Asterisk, PostgreSQL, SIPp) in cores.

The ramp stops at the first step that misses its rate by more than 10%, whose event lag p99
passes 0.5 s, or after which the machine's cores are all busy; the part using the most CPU
against its own ceiling (one core for the engine's event loop) is named as the limit. The
figures per call are the ones that travel to another machine. The calls are placed directly
(no campaign planner or pacing runs): what is measured is the engine's part of a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.dialer.service import CallRequest
from pbx_engine.engine import Engine
from pbx_engine.lab.demo import Floor, sample_cases, simulated_agents, start_floor
from pbx_engine.tasks import wait_set

LAG_SERIES = "pbx_engine_ari_event_lag_seconds"
QUERY_SERIES = "pbx_engine_db_query_seconds"
BRIDGE_SERIES = "pbx_engine_bridge_seconds"  # dead air of people whose agent was free
MAX_LAG_P99_S = 0.5
CALLS_END_WITHIN = 90.0  # seconds after a step's last placing: ring, talk and wrap-up
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    target_per_s: float
    placed: int
    placed_per_s: float
    peak_channels: int
    events_per_s: float
    event_lag_p50_ms: float | None
    event_lag_p99_ms: float | None
    # The engine's part: verdict to bridge for people whose agent was free at the verdict.
    bridge_p50_ms: float | None
    bridge_p99_ms: float | None
    # What people heard, waits for an agent to finish a call included (from the attempts).
    verdict_to_bridge_p50_ms: float | None
    verdict_to_bridge_p99_ms: float | None
    answer_to_bridge_p99_ms: float | None
    people: int  # answered calls judged a person
    bridged: int  # of them, put through to an agent (the others were abandoned)
    engine_cpu_ms_per_call: float | None
    events_per_call: float | None
    rows_written_per_s: float
    query_p99_ms: float | None
    cpu_cores: dict[str, float]  # part -> cores used over the step
    limit: str | None  # why the ramp stops here; None: it goes on


def quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The `q` quantile of a cumulative histogram ((upper bound, count) pairs, ascending, the
    last one +Inf), interpolated inside its bucket as Prometheus's histogram_quantile does."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound  # past the last finite bucket: its bound is all we know
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return lower_bound


def histogram(engine: Engine, name: str) -> list[tuple[float, float]]:
    """The engine's histogram `name` as cumulative (upper bound, count) pairs, summed over
    its labels (campaigns)."""
    counts: dict[float, float] = {}
    for family in engine.metrics.registry.collect():
        if family.name == name:
            for sample in family.samples:
                if sample.name == f"{name}_bucket":
                    bound = float(sample.labels["le"])
                    counts[bound] = counts.get(bound, 0.0) + sample.value
    return sorted(counts.items())


def bucket_delta(
    after: list[tuple[float, float]], before: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    earlier = dict(before)
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


@dataclass(frozen=True)
class ProcessStat:
    """What /proc/PID/stat says of a process: its name, parent and CPU so far."""

    pid: int
    name: str
    parent: int
    ticks: int  # utime + stime, in clock ticks

    @classmethod
    def read(cls, pid: int) -> ProcessStat | None:
        """None when the process is gone."""
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 1 :].split()
        return cls(pid, name, int(fields[1]), int(fields[11]) + int(fields[12]))


def processes() -> list[ProcessStat]:
    """Every process on the machine, as /proc lists it now."""
    found = (ProcessStat.read(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit())
    return [p for p in found if p is not None]


def process_ticks(pid: int) -> int:
    """utime + stime of one process, in clock ticks (0 when it is gone)."""
    stat = ProcessStat.read(pid)
    return stat.ticks if stat else 0


def parts(floor: Floor) -> dict[str, list[int]]:
    """The processes of each part of the floor."""
    postmaster_file = floor.postgres.dir / "data" / "postmaster.pid" if floor.postgres.dir else None
    postmaster = int(postmaster_file.read_text().split()[0]) if postmaster_file else None
    everyone = processes()
    return {
        "engine": [os.getpid()],
        "asterisk (engine)": [p for p in [floor.telephony.engine.pid] if p],
        "asterisk (pstn)": [p for p in [floor.telephony.pstn.pid] if p],
        "postgresql": (
            [postmaster, *(p.pid for p in everyone if p.parent == postmaster)] if postmaster else []
        ),
        "sipp": [p.pid for p in everyone if p.name == "sipp"],
    }


def cpu_ticks(pids: dict[str, list[int]]) -> dict[str, int]:
    return {part: sum(process_ticks(p) for p in processes) for part, processes in pids.items()}


def limit_of(
    step_target: float, placed_per_s: float, lag_p99: float | None, cores: dict
) -> str | None:
    """Why the ramp stops at this step, if it does."""
    busiest = max(cores, key=lambda part: cores[part] / (1.0 if part == "engine" else 2.0))
    if placed_per_s < 0.9 * step_target:
        return f"the rate was missed ({placed_per_s:.1f}/s of {step_target:g}/s): {busiest} busiest"
    if lag_p99 is not None and lag_p99 > MAX_LAG_P99_S:
        return f"event lag p99 {lag_p99 * 1000:.0f} ms: {busiest} busiest"
    if sum(cores.values()) > 0.95 * (os.cpu_count() or 1):
        return f"every core busy: {busiest} busiest"
    if cores.get("engine", 0.0) > 0.9:
        return "the engine's event loop uses a whole core"
    return None


@dataclass
class Debtors:
    """The debtors the bench calls: the campaign "load" (never started: the bench places its
    calls) and its cases, as (case id, number), taken from the end."""

    campaign_id: int
    cases: list[tuple[int, str]]


async def load_cases(engine: Engine, count: int, rng: random.Random) -> Debtors:
    """`count` sample debtors (the demo's, numbers by its mix) on record, in a random order:
    the calls placed carry their case and campaign, as a campaign's do (the screen pop reads
    the case, the agents' dispositions write to it)."""
    runner = await engine.add_campaign(
        CampaignConfig(name="load", dial_mode="predictive", compliance="plain")
    )
    await engine.storage.cases.import_cases(sample_cases(count, rng), campaign="load")
    rows = await engine.storage.pool.fetch(
        "SELECT c.id, p.e164 FROM cases c JOIN phone_numbers p ON p.case_id = c.id ORDER BY c.id"
    )
    cases = [(r["id"], r["e164"]) for r in rows]
    rng.shuffle(cases)
    return Debtors(runner.campaign_id, cases)


async def _place_at(engine: Engine, rate: float, seconds: float, debtors: Debtors) -> list:
    """Place calls at `rate` a second for `seconds`, to the next of the debtors; the placed."""
    placed = []
    loop = asyncio.get_running_loop()
    began = loop.time()
    n = 0
    while (due := began + n / rate) < began + seconds:
        await asyncio.sleep(max(0.0, due - loop.time()))
        case_id, number = debtors.cases.pop()
        request = CallRequest(
            number, case_id=case_id, campaign_id=debtors.campaign_id, campaign="load"
        )
        try:
            placed.append(engine.dialer.place_call(request))
        except Exception as error:  # refused (the outbound policy, a full PBX): counted apart
            print(f"  not placed: {error}", file=sys.stderr)
        n += 1
    return placed


async def _peak_channels(engine: Engine, stop: asyncio.Event) -> int:
    peak = 0
    while not stop.is_set():
        try:
            peak = max(peak, len(await engine.ari.list_channels()))
        except Exception:  # a busy PBX may answer late: the peak is a sample anyway
            pass
        await wait_set(stop, 1.0)
    return peak


async def _people(engine: Engine, campaign_id: int, since: datetime) -> int:
    """Answered calls of the step judged a person (put through or not)."""
    return await engine.storage.pool.fetchval(
        "SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND created_at >= $2 "
        "AND (amd_status = 'HUMAN' OR bridged_at IS NOT NULL)",
        campaign_id,
        since,
    )


async def _rows_written(engine: Engine) -> int:
    return await engine.storage.pool.fetchval(
        "SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database "
        "WHERE datname = current_database()"
    )


def _count(buckets: list[tuple[float, float]]) -> float:
    return buckets[-1][1] if buckets else 0.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def run_step(floor: Floor, rate: float, seconds: float, debtors: Debtors) -> Step:
    engine = floor.engine
    pids = parts(floor)
    lag0, query0 = histogram(engine, LAG_SERIES), histogram(engine, QUERY_SERIES)
    bridge0 = histogram(engine, BRIDGE_SERIES)
    ticks0, rows0 = cpu_ticks(pids), await _rows_written(engine)
    cpu0, started, clock0 = time.process_time(), datetime.now(UTC), time.monotonic()
    stop = asyncio.Event()
    sampler = asyncio.create_task(_peak_channels(engine, stop))
    placed = await _place_at(engine, rate, seconds, debtors)
    elapsed = time.monotonic() - clock0
    ticks, rows = cpu_ticks(pids), await _rows_written(engine)
    lag, query = (
        bucket_delta(histogram(engine, LAG_SERIES), lag0),
        bucket_delta(histogram(engine, QUERY_SERIES), query0),
    )
    bridge = bucket_delta(histogram(engine, BRIDGE_SERIES), bridge0)
    stop.set()
    peak = await sampler
    # The figures per call count each call whole: its end may come after the step's last
    # placing, so the process's CPU and the events are read once every call has ended.
    if placed:
        await asyncio.wait([call.task for call in placed], timeout=CALLS_END_WITHIN)
    cpu_whole = time.process_time() - cpu0
    events_whole = _count(histogram(engine, LAG_SERIES)) - _count(lag0)
    dead_air = await engine.storage.reports.campaign_report(debtors.campaign_id, started)
    people = await _people(engine, debtors.campaign_id, started)
    events = lag[-1][1] if lag else 0.0
    cores = {
        part: round((ticks[part] - ticks0.get(part, 0)) / _TICKS / elapsed, 2) for part in ticks
    }
    lag_p99 = quantile(lag, 0.99)
    placed_per_s = len(placed) / elapsed
    return Step(
        target_per_s=rate,
        placed=len(placed),
        placed_per_s=round(placed_per_s, 2),
        peak_channels=peak,
        events_per_s=round(events / elapsed, 1),
        event_lag_p50_ms=_ms(quantile(lag, 0.5)),
        event_lag_p99_ms=_ms(lag_p99),
        bridge_p50_ms=_ms(quantile(bridge, 0.5)),
        bridge_p99_ms=_ms(quantile(bridge, 0.99)),
        verdict_to_bridge_p50_ms=dead_air.verdict_to_bridge_p50_ms,
        verdict_to_bridge_p99_ms=dead_air.verdict_to_bridge_p99_ms,
        answer_to_bridge_p99_ms=dead_air.answer_to_bridge_p99_ms,
        people=people,
        bridged=dead_air.contacts,
        engine_cpu_ms_per_call=round(1000 * cpu_whole / len(placed), 1) if placed else None,
        events_per_call=round(events_whole / len(placed), 1) if placed else None,
        rows_written_per_s=round((rows - rows0) / elapsed, 1),
        query_p99_ms=_ms(quantile(query, 0.99)),
        cpu_cores=cores,
        limit=limit_of(rate, placed_per_s, lag_p99, cores),
    )


def top_functions(
    collapsed: str, prefix: str = "", count: int = 12, *, inclusive_first: bool = False
) -> list[tuple[str, float, float]]:
    """From py-spy's collapsed stacks ("frame;frame;... samples" per line): the functions with
    the most samples on top of the stack (or, `inclusive_first`, anywhere in it), as (function,
    share of samples inclusive, share on top). `prefix`: only frames whose text contains it."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        n = int(samples)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return []
    weight = inclusive if inclusive_first else own
    ranked = sorted(
        (f for f in inclusive if prefix in f), key=lambda f: weight.get(f, 0), reverse=True
    )
    return [(f, inclusive[f] / total, own.get(f, 0) / total) for f in ranked[:count]]


class Profiler:
    """py-spy sampling this process while the steps run (the lab extra installs it)."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Profiler:
        # The venv's scripts folder first: the engine may run without the venv on its PATH.
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if spy is None:
            raise RuntimeError("py-spy is not installed: pip install '.[lab]'")
        self._process = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(os.getpid()), "--rate", "200", "--format", "raw",
            "--output", str(self.output), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(signal.SIGINT)  # it writes its file as it stops
            await self._process.wait()


def format_steps(steps: Iterable[Step]) -> str:
    lines = [
        "target/s placed/s peak ch  events/s lag p50/p99 ms  bridge p50/p99 ms  dead air "
        "p50/p99 ms  CPU ms/call ev/call rows/s q p99 ms | cores: engine ast-engine ast-pstn "
        "pg sipp"
    ]
    for s in steps:
        c = s.cpu_cores
        lines.append(
            f"{s.target_per_s:8g} {s.placed_per_s:8.2f} {s.peak_channels:7d} {s.events_per_s:9.1f} "
            f"{s.event_lag_p50_ms}/{s.event_lag_p99_ms} {s.bridge_p50_ms}/{s.bridge_p99_ms} "
            f"{s.verdict_to_bridge_p50_ms}/"
            f"{s.verdict_to_bridge_p99_ms} {s.engine_cpu_ms_per_call} {s.events_per_call} "
            f"{s.rows_written_per_s} {s.query_p99_ms} | {c.get('engine')} "
            f"{c.get('asterisk (engine)')} {c.get('asterisk (pstn)')} {c.get('postgresql')} "
            f"{c.get('sipp')} | people {s.people}, put through {s.bridged}"
        )
        if s.limit:
            lines.append(f"  stops here: {s.limit}")
    return "\n".join(lines)


async def run_load(
    *,
    agents: int = 30,
    rates: Sequence[float] = (2, 4, 6, 8, 10, 12, 16, 20),
    step_seconds: float = 30.0,
    settle_seconds: float = 3.0,
    as_json: bool = False,
    seed: int = 1,
    profile: Path | None = None,
) -> int:
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else print
    rng = random.Random(seed)
    steps: list[Step] = []
    say(f"starting PostgreSQL, the engine's Asterisk, the PSTN and {agents} softphones ...")
    async with AsyncExitStack() as stack:
        floor = await start_floor(stack, agents=agents)
        engine = floor.engine
        debtors = await load_cases(engine, int(sum(rates) * step_seconds) + len(rates), rng)
        say(f"{len(debtors.cases)} debtors on record; logging the agents in ...")
        for login in floor.logins:
            await engine.agents.login(login)
        say("ramping up")
        bots = asyncio.get_running_loop().create_task(
            # Short talks: the floor should have an agent free for most people, so that the
            # engine's own time shows (a saturated floor measures its agents instead).
            simulated_agents(engine, rng, talk=(0.5, 1.5))
        )
        try:
            async with Profiler(profile) if profile else contextlib.nullcontext():
                await _ramp(floor, rates, step_seconds, settle_seconds, debtors, steps, say)
        finally:
            bots.cancel()
            await asyncio.gather(bots, return_exceptions=True)
            for login in floor.logins:
                await engine.agents.logout(login)
    if as_json:
        print(
            json.dumps(
                {"agents": agents, "cores": os.cpu_count(), "steps": [asdict(s) for s in steps]}
            )
        )
    else:
        say("\n" + format_steps(steps))
    if profile:
        say(f"\nwhere the engine's CPU went (py-spy, {profile}): share inclusive, on top")
        collapsed = await asyncio.to_thread(profile.read_text)
        for title, rows in (
            ("on top of the stack", top_functions(collapsed)),
            ("the engine's own code", top_functions(collapsed, "pbx_engine", inclusive_first=True)),
        ):
            say(f"{title}:")
            for function, inclusive, own in rows:
                say(f"  {inclusive:6.1%} {own:6.1%}  {function}")
    return 0


async def _ramp(
    floor: Floor,
    rates: Sequence[float],
    step_seconds: float,
    settle_seconds: float,
    debtors: Debtors,
    steps: list[Step],
    say,
) -> None:
    for rate in rates:
        step = await run_step(floor, rate, step_seconds, debtors)
        steps.append(step)
        say(format_steps([step]).splitlines()[1])
        if step.limit:
            say(f"  stops here: {step.limit}")
            return
        await asyncio.sleep(settle_seconds)  # the agents' wrap-ups end before the next step
