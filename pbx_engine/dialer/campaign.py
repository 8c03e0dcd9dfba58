"""A running campaign: keeps its agents busy by placing the calls the planner picks.

progressive: one call per ready agent, the agent reserved for it, so a person who answers is
never abandoned. predictive: the campaign's pacing policy (pbx_engine.pacing) says how many calls
to place, from the live floor; agents are claimed at the verdict. preview: nothing is dialled
until an agent asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import structlog

from ari_apps.outcomes import Outcome
from pbx_engine.agents.service import AgentService
from pbx_engine.agents.states import AgentState
from pbx_engine.callerid.service import CallerIdService
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.compliance.policy import next_window_open, public_holiday
from pbx_engine.compliance.timezones import debtor_zones
from pbx_engine.dialer.elsewhere import AgentsElsewhere
from pbx_engine.dialer.lease import CampaignLease
from pbx_engine.dialer.pacer import LivePacing, history_of
from pbx_engine.dialer.placement import node_for_debtor
from pbx_engine.dialer.schedule import CALL_IN_PROGRESS, CallPlan, plan_calls
from pbx_engine.dialer.service import (
    AsteriskNotHeard,
    CallRequest,
    Dialer,
    DialerClosed,
    PlacedCall,
    RecordingsFailing,
)
from pbx_engine.lookups.service import NumberLookups
from pbx_engine.recordkeeper.keeper import NotRecording
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.storage import Attempt, Storage
from pbx_engine.storage.leases import Fence
from pbx_engine.tasks import wait_set

# Agents a predictive call is dialled for: those ready now and those who will be soon.
STAFFED = frozenset({AgentState.READY, AgentState.ON_CALL, AgentState.WRAP_UP})

log = structlog.get_logger(__name__)


class PreviewError(Exception):
    """A preview request that does not fit the agent's state."""


class CampaignState(StrEnum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


class CampaignRunner:
    def __init__(
        self,
        campaign: CampaignConfig,
        campaign_id: int,
        storage: Storage,
        dialer: Dialer,
        agents: AgentService,
        *,
        tick: float = 0.5,
        batch: int = 500,
        callerid: CallerIdService | None = None,
        lookups: NumberLookups | None = None,
        holder: str = "engine",
        lease: CampaignLease | None = None,
        elsewhere: AgentsElsewhere | None = None,
    ) -> None:
        self.campaign = campaign
        # Other engines' agents, whom predictive pacing counts and a person may be handed to.
        self._elsewhere = elsewhere
        # This engine's name, under which it holds the campaign's lease: of several engines on
        # one database, the holder dials the campaign and the others stand by.
        self._holder = holder
        self.lease = lease or CampaignLease()
        self._waiting_for_asterisk = False
        self._lookups = lookups
        self.campaign_id = campaign_id
        self._storage = storage
        self._dialer = dialer
        self._agents = agents
        self._tick = tick
        self._batch = batch
        self._callerid = callerid
        self.state = CampaignState.STOPPED
        self._queue: list[CallPlan] = []
        self._in_flight: dict[int, PlacedCall] = {}  # case id -> call
        self._wake = asyncio.Event()
        self.placed = 0
        self._offered: dict[str, CallPlan] = {}  # preview: agent login -> case on his screen
        self.out_of_work = False  # the last planning pass found nothing due
        self.pacing: LivePacing | None = None  # predictive mode, made on first use
        self._fresh_start = False
        self._callbacks_up: dict[str, int] = {}  # channel -> callback being made
        # (callback, how its call ended; None: the call's task failed)
        self._callbacks_ended: list[tuple[int, Outcome | None]] = []

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def start(self) -> None:
        self.state = CampaignState.RUNNING
        self._fresh_start = True  # forget earlier deferrals: rules may have changed
        self._wake.set()

    def pause(self) -> None:
        self.state = CampaignState.PAUSED

    def stop(self) -> None:
        self.state = CampaignState.STOPPED
        self._queue.clear()

    async def run(self) -> None:
        """Until cancelled: place calls while running, then wait a tick or for a wake-up."""
        structlog.contextvars.bind_contextvars(campaign=self.campaign.name)
        while True:
            # While calls cannot be written down, none is placed (nor planned: the planner
            # reads the same database).
            if self.state is CampaignState.RUNNING and not self._dialer.asterisk_heard:
                # This engine cannot dial: its lease is not renewed, so an engine whose PBX
                # answers takes the campaign over once it runs out (a blip shorter than that
                # keeps it here).
                if not self._waiting_for_asterisk:
                    log.info("campaign.waiting_for_asterisk")
                self._waiting_for_asterisk = True
            elif self.state is CampaignState.RUNNING and self._dialer.recording:
                self._waiting_for_asterisk = False
                try:
                    if await self._hold_lease():
                        await self._place_due_calls()
                except RecordingsFailing:
                    log.info("campaign.waiting_for_recordings")
                except AsteriskNotHeard:
                    log.info("campaign.waiting_for_asterisk")
                except NotRecording:
                    log.info("campaign.waiting_for_records")
                except DialerClosed:
                    return
                except Exception as error:
                    if not is_unreachable(error):
                        log.exception("campaign.tick_failed")
                    else:  # the record keeper stops the dialling; a traceback tells nothing
                        log.warning(
                            "campaign.database_unreachable",
                            error=str(error) or type(error).__name__,
                        )
            elif self.lease.token is not None and self.state is not CampaignState.RUNNING:
                await self._let_lease_go()
            self._wake.clear()
            await wait_set(self._wake, self._tick)

    async def _hold_lease(self) -> bool:
        """Take or renew the campaign's lease when due; whether this engine may place its
        calls now. Another engine's lease: it stands by (and takes over once that runs
        out). The database silent: the lease runs out by this engine's own clock."""
        lease, clock = self.lease, asyncio.get_running_loop().time
        if lease.due(clock()):
            asked = clock()
            try:
                if lease.token is None:
                    taken = await self._storage.leases.take(
                        self.campaign_id, self._holder, lease.seconds
                    )
                    token = taken.token if taken else None
                    if taken is not None and taken.taken_from is not None:
                        # Its engine died, or is cut off from the database. Its calls and
                        # agents are not taken here: the engines' watch (`dialer.takeover`)
                        # takes an engine over once its beat on the PBX stands still, which
                        # comes before its lease runs out; one whose beat moves keeps them.
                        log.info("campaign.lease_taken_from", engine=taken.taken_from)
                elif await self._storage.leases.renew(self._fence(), lease.seconds):
                    token = lease.token
                else:
                    token = None
            except Exception as error:
                if not is_unreachable(error):
                    raise
                log.warning("campaign.lease_not_renewed", error=str(error) or type(error).__name__)
                return lease.may_place(clock())
            if token is None:
                if lease.token is not None:
                    log.warning("campaign.lease_lost", token=lease.token)
                lease.refused()
            else:
                if token != lease.token:
                    log.info("campaign.lease_taken", holder=self._holder, token=token)
                lease.held(token, asked)
        return lease.may_place(clock())

    def _fence(self) -> Fence | None:
        token = self.lease.token
        return None if token is None else Fence(self.campaign_id, self._holder, token)

    async def _let_lease_go(self) -> None:
        """Stopped or paused here: the campaign is free for another engine at once."""
        fence = self._fence()
        self.lease.lost()
        if fence is not None:
            with contextlib.suppress(Exception):
                await self._storage.leases.release(fence)
            log.info("campaign.lease_released", token=fence.token)

    async def _place_due_calls(self) -> None:
        if self._fresh_start:
            await self._storage.campaigns.clear_deferrals(self.campaign_id)
            self._fresh_start = False
        mode = self.campaign.dial_mode
        logins = set(self.campaign.agents) or None
        await self._settle_callbacks()
        await self._place_due_callbacks(logins)
        if mode == "progressive":
            while len(self._in_flight) < self.campaign.max_lines:
                if not self._any_ready(logins):
                    return
                plan = await self._next_plan()
                if plan is None:
                    return
                agent = await self._agents.reserve(logins)
                if agent is None:
                    self._queue.insert(0, plan)
                    return
                await self._place(plan, agent.login)
        elif mode == "predictive":
            pacing = self.pacing or await self._start_pacing(logins)
            await self._learn_handed_fates(pacing)
            for _ in range(pacing.calls_to_place()):
                plan = await self._next_plan()
                if plan is None:
                    return
                pacing.track(await self._place(plan, None))

    async def _learn_handed_fates(self, pacing: LivePacing) -> None:
        """What became of the persons handed to other engines, as soon as it is on record."""
        pending = pacing.handed_pending()
        if pending:
            for channel_id, abandoned in (
                await self._storage.attempts.handed_fates(pending)
            ).items():
                pacing.handed_settled(channel_id, abandoned)

    async def _start_pacing(self, logins: set[str] | None) -> LivePacing:
        """The predictive pacing, its abandon budget the campaign's over the regulator's
        period: the calls on record count, whichever engine (or this one before a restart)
        placed them."""
        period = self.campaign.compliance_profile().abandon_period
        history = history_of(await self._storage.campaigns.calls_over(self.campaign_id, period))
        pacing = LivePacing(
            self.campaign.pacing_policy(), self._agents, logins, elsewhere=self._elsewhere
        )
        pacing.remember(history)
        if history.calls:
            log.info(
                "campaign.pacing_remembers",
                calls=history.calls,
                lives=history.lives,
                abandons=history.abandons,
            )
        self.pacing = pacing
        return pacing

    # ------------------------------------------------------------------ callbacks
    CALLBACK_RETRY = timedelta(minutes=15)
    CALLBACK_ATTEMPTS = 3

    async def _place_due_callbacks(self, logins: set[str] | None) -> None:
        """Callbacks that are due go ahead of fresh numbers, each with an agent held for it:
        its owner if he is ready, else (unless it is his only) any ready agent of the campaign.
        Calling windows apply; attempt caps do not (the debtor asked to be called)."""
        now = datetime.now(UTC)
        profile = self.campaign.compliance_profile()
        closed = public_holiday(profile.holidays)
        for callback in await self._storage.callbacks.due_callbacks(
            self.campaign_id, now, limit=20
        ):
            if callback.case_id in self._in_flight or callback.id in self._callbacks_up:
                continue
            zones = debtor_zones(callback.timezone, callback.e164, self.campaign.fallback_timezone)
            opens = next_window_open(profile.windows, zones, now, closed)
            if opens is None or opens > now:
                await self._storage.callbacks.defer_callback(
                    callback.id, opens or now + timedelta(days=1)
                )
                continue
            agent = await self._agents.claim(callback.owner) if callback.owner else None
            if agent is None and not callback.owner_only:
                agent = await self._agents.reserve(logins)
            if agent is None:
                continue  # it waits for its agent (or for anyone to be ready)
            plan = CallPlan(
                callback.case_id,
                callback.phone_number_id,
                callback.e164,
                callback.kind or "unknown",
            )
            placed = await self._place(plan, agent.login)
            self._callbacks_up[placed.channel_id] = callback.id
            await self._storage.callbacks.callback_dialled(callback.id, placed.channel_id)
            log.info("campaign.callback_dialled", callback=callback.id, agent=agent.login)

    async def _settle_callbacks(self) -> None:
        while self._callbacks_ended:
            # Taken off the list once settled: a database away now leaves it for the next
            # tick instead of losing it (a write it refuses is dropped: it would fail again).
            callback_id, outcome = self._callbacks_ended[0]
            try:
                if outcome is Outcome.NOT_PLACED:
                    # Asterisk refused it before it rang: no try spent, due as it was.
                    status = await self._storage.callbacks.callback_not_placed(callback_id)
                else:
                    status = await self._storage.callbacks.settle_callback(
                        callback_id,
                        reached=outcome is Outcome.HUMAN,
                        retry_at=datetime.now(UTC) + self.CALLBACK_RETRY,
                        max_attempts=self.CALLBACK_ATTEMPTS,
                    )
            except Exception as error:
                if not is_unreachable(error):
                    self._callbacks_ended.pop(0)
                raise
            self._callbacks_ended.pop(0)
            if status == "missed":
                log.warning("campaign.callback_missed", callback=callback_id)

    # ------------------------------------------------------------------ preview
    async def offer(self, login: str) -> CallPlan | None:
        """Preview: the next case for this agent, who is held (reserved) while he reads it."""
        if login in self._offered:
            return self._offered[login]
        agent = self._agents.status(login)
        if agent is None or agent.state is not AgentState.READY:
            raise PreviewError(f"agent {login!r} is not ready")
        plan = await self._next_plan()
        if plan is None:
            return None
        if await self._agents.reserve({login}) is None:
            self._queue.insert(0, plan)
            raise PreviewError(f"agent {login!r} is not ready")
        self._offered[login] = plan
        return plan

    async def dial_offered(self, login: str) -> PlacedCall:
        plan = self._offered.pop(login, None)
        if plan is None:
            raise PreviewError(f"no case is offered to {login!r}")
        return await self._place(plan, login)

    async def skip_offered(self, login: str) -> None:
        plan = self._offered.pop(login, None)
        if plan is None:
            raise PreviewError(f"no case is offered to {login!r}")
        until = datetime.now(UTC) + timedelta(hours=self.campaign.preview_skip_hours)
        await self._storage.campaigns.skip_case(plan.case_id, self._agents.agent_id(login), until)
        self._queue = [p for p in self._queue if p.case_id != plan.case_id]
        await self._agents.release(login)

    def _any_ready(self, logins: set[str] | None) -> bool:
        return any(
            a.state is AgentState.READY and (logins is None or a.login in logins)
            for a in self._agents.all()
        )

    async def _next_plan(self) -> CallPlan | None:
        while True:
            if not self._queue:
                candidates = await self._storage.campaigns.campaign_candidates(
                    self.campaign_id,
                    now=datetime.now(UTC),
                    limit=self._batch,
                    segments=self.campaign.select.segments,
                    days_past_due=self.campaign.select.days_past_due,
                    amount=self.campaign.select.amount,
                )
                fresh = [c for c in candidates if c.case_id not in self._in_flight]
                plans, deferred = plan_calls(fresh, self.campaign, datetime.now(UTC), self._batch)
                # Marked, so that the next batch reaches the cases behind them. A case with a
                # call up is left unmarked: it is due again the moment the call ends.
                await self._storage.campaigns.defer_cases(
                    [(d.case_id, d.not_before) for d in deferred if d.reason != CALL_IN_PROGRESS]
                )
                self.out_of_work = not plans
                if not plans:
                    return None
                self._queue = plans
            plan = self._queue.pop(0)
            taken = {p.case_id for p in self._offered.values()}
            if plan.case_id in self._in_flight or plan.case_id in taken:
                continue
            if await self._number_dead(plan):
                continue  # a dead number now: the next planning pass leaves it out
            return plan

    async def _number_dead(self, plan: CallPlan) -> bool:
        """Whether the look-up provider (when [lookup] is set) says the number is not valid."""
        if self._lookups is None:
            return False
        check = await self._lookups.before_contact(plan.e164)
        if check is None or check.valid:
            return False
        log.info("campaign.number_dead_by_lookup", case_id=plan.case_id, why=check.why)
        return True

    async def presented_identity(
        self, number: str, *, mobile: bool | None = None, case_id: int | None = None
    ) -> tuple[str | None, str | None]:
        """The caller ID to present when calling `number` for this campaign, and its trunk
        (None: the dialer's): a number from the campaign's pools, else its fixed caller ID."""
        pools = self.campaign.caller_id_pools
        if pools is not None and self._callerid is not None:
            choice = await self._callerid.choose(
                pools.rule(), number, mobile=mobile, case_id=case_id
            )
            if choice is not None:
                return choice.number.e164, choice.number.trunk
        return self.campaign.caller_id, None

    async def _place(self, plan: CallPlan, agent: str | None) -> PlacedCall:
        caller_id, trunk = await self.presented_identity(
            plan.e164, mobile=True if plan.kind == "mobile" else None, case_id=plan.case_id
        )
        request = CallRequest(
            number=plan.e164,
            case_id=plan.case_id,
            phone_number_id=plan.phone_number_id,
            campaign_id=self.campaign_id,
            campaign=self.campaign.name,
            caller_id=caller_id,
            agent=agent,
            machine_message=self.campaign.machine_message,
            screening=self.campaign.screening.policy() if self.campaign.screening else None,
            trunk=trunk,
            amd_detector=self.campaign.detector,
            recording=self.campaign.recording.policy(),
            survey=self.campaign.survey.call_survey if self.campaign.survey else None,
            # Checked by the insert that places it: no call once the lease is another's.
            fence=self._fence(),
            node=self._agents.node_of(agent) if agent else self._node_for_debtor(),
        )
        try:
            placed = self._dialer.place_call(request)
        except NotRecording:
            # Nothing rang: the case waits for the database, the agent for another call.
            self._queue.insert(0, plan)
            if agent is not None:
                await self._agents.release(agent)
            raise
        self.placed += 1
        self._in_flight[plan.case_id] = placed
        placed.task.add_done_callback(lambda _: self._call_done(plan.case_id, placed))
        return placed

    def handed_request(self, attempt: Attempt) -> CallRequest:
        """The request a person of this campaign is handled under when another engine, with
        no agent free, hands him to this one (this runner may stand by)."""
        return CallRequest(
            number=attempt.dialled,
            case_id=attempt.case_id,
            phone_number_id=attempt.phone_number_id,
            campaign_id=self.campaign_id,
            campaign=self.campaign.name,
            caller_id=attempt.caller_id,
            recording=self.campaign.recording.policy(),
            survey=self.campaign.survey.call_survey if self.campaign.survey else None,
        )

    def _node_for_debtor(self) -> str | None:
        """With several Asterisk nodes, the one a predictive call goes to (`placement`)."""
        up = self._dialer.nodes_up()
        if len(up) < 2:
            return None
        logins = set(self.campaign.agents) or None
        staffed: Counter[str] = Counter()
        for agent in self._agents.all():
            node = self._agents.node_of(agent.login)
            if node and agent.state in STAFFED and (logins is None or agent.login in logins):
                staffed[node] += 1
        calls_out = Counter(call.node for call in self._in_flight.values() if call.node)
        return node_for_debtor(staffed, calls_out, up)

    def _call_done(self, case_id: int, call: PlacedCall) -> None:
        self._in_flight.pop(case_id, None)
        task = call.task
        failed = task.cancelled() or task.exception() is not None
        result = None if failed else task.result()
        if self.pacing is not None:
            self.pacing.settle(call.channel_id, result)
        callback_id = self._callbacks_up.pop(call.channel_id, None)
        if callback_id is not None:
            # Settled on the next pass (this runs in a done-callback, where nothing may wait).
            self._callbacks_ended.append((callback_id, result.outcome if result else None))
        self._queue.clear()  # the finished call changes what is due: plan afresh
        self._wake.set()
