"""What feeds the hub: agents' state changes (and the screen pop when one is put through to a
debtor), dispositions, and the campaigns' figures while supervisors watch. Also the snapshots a
browser gets when it connects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import structlog

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.cases.script import fill_script
from pbx_engine.notify.hub import Notice, NotificationHub
from pbx_engine.recordkeeper.outbox import is_unreachable
from pbx_engine.reports.figures import day_start, occupancy
from pbx_engine.storage.models import AgentRow
from pbx_engine.tasks import OwnedTasks

if TYPE_CHECKING:
    from pbx_engine.agents.service import AgentService
    from pbx_engine.dialer.campaign import CampaignRunner
    from pbx_engine.storage import Storage

log = structlog.get_logger(__name__)

SUPERVISORS = ("supervisor", "admin")
DEAD_AIR_AFTER = 1.0  # seconds after the screen pop
RECORDING_FAILURES_PERIOD = timedelta(hours=1)  # "recent" on the wallboard
MAX_RECORDING_STATES = 10_000  # calls' recording states kept at most


def _ms(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() * 1000, 1)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class FloorFeed:
    def __init__(
        self,
        hub: NotificationHub,
        storage: Storage,
        agents: AgentService,
        campaigns: Callable[[], Mapping[str, CampaignRunner]],
        *,
        figures_every: float = 3.0,
        dead_air_after: float = DEAD_AIR_AFTER,
        zone: tzinfo = UTC,
    ) -> None:
        self.hub = hub
        self._storage = storage
        self._agents = agents
        self._campaigns = campaigns
        self._figures_every = figures_every
        self._dead_air_after = dead_air_after
        self._zone = zone
        self._tasks = OwnedTasks()
        self._pops: dict[str, dict[str, Any]] = {}  # login -> his current call's screen pop
        self._started = False
        self._figures_due = False
        self._names: dict[str, str] = {}  # login -> name, read when he logs in
        # channel -> what his desk shows of the call's recording (it may fail before the
        # screen pop is read: the pop takes it from here); dropped when the call ends.
        self._recording: dict[str, dict[str, Any]] = {}
        # case id -> its signed payment link, shown on the screen pop ([payments] set).
        self.pay_link: Callable[[int], str] | None = None
        agents.on_state_change(self._on_state)

    def start(self) -> None:
        """Publish campaign figures while supervisors watch (needs the running loop)."""
        if not self._started:
            self._started = True
            self._tasks.spawn(self._publish_figures(), name="floor-figures")

    async def close(self) -> None:
        await self._tasks.close()
        self.hub.close()

    # ------------------------------------------------------------------ events in
    def _on_state(self, status: AgentStatus, before: AgentState) -> None:
        if before is AgentState.ON_CALL and status.state is not AgentState.ON_CALL:
            ended = self._pops.pop(status.login, None)
            if ended is not None:
                self._recording.pop(ended["channel_id"], None)
                self.hub.publish(
                    Notice("call_ended", {"channel_id": ended["channel_id"]}, agent=status.login)
                )
        self.hub.publish(Notice("agent", self.agent_json(status), agent=status.login))
        if status.login not in self._names or before is AgentState.LOGGED_OUT:
            # Read at each login: a name changed between shifts shows on the next one.
            self._names.setdefault(status.login, status.login)  # until his name is read
            self._tasks.spawn(self._learn_name(status.login))
        if status.state is AgentState.ON_CALL and status.call_id and status.since:
            self._tasks.spawn(self._screen_pop(status.login, status.call_id, status.since))
        if AgentState.ON_CALL in (before, status.state):
            self._figures_soon()  # live connects changed

    async def _screen_pop(self, login: str, channel_id: str, bridged_at: datetime) -> None:
        try:
            pop = await self._storage.cases.screen_pop(channel_id)
        except Exception as error:
            if not is_unreachable(error):
                log.exception("desk.screen_pop_failed", agent=login, channel_id=channel_id)
            else:  # the database is away: the call goes on without its dossier on screen
                log.warning("desk.screen_pop_unavailable", agent=login, channel_id=channel_id)
            return
        if pop is None:
            return
        status = self._agents.status(login)
        if status is None or status.call_id != channel_id:
            return  # the call ended while the dossier was read
        pop["bridged_at"] = bridged_at.isoformat()
        case = pop.get("case")
        if case and self.pay_link is not None:
            case["pay_link"] = self.pay_link(case["id"])
        pop["recording"] = self._recording.get(channel_id)
        decided = pop.get("amd_decided_at")
        if decided:
            pop["dead_air_ms"] = _ms(bridged_at, datetime.fromisoformat(decided))
        runner = self._campaigns().get(pop.get("campaign") or "")
        if runner is not None and runner.campaign.script:
            pop["script"] = fill_script(runner.campaign.script, pop.get("case"), login)
        self._pops[login] = pop
        self.hub.publish(Notice("screen_pop", pop, agent=login))
        self.hub.publish(Notice("agent", self.agent_json(status), agent=login))
        log.info(
            "desk.screen_pop",
            agent=login,
            channel_id=channel_id,
            after_bridge_ms=_ms(datetime.now(UTC), bridged_at),
        )
        # The AMD verdict is stored once the debtor is through (he must not wait for the
        # write): dead air can be shown a moment later.
        await asyncio.sleep(self._dead_air_after)
        attempt = await self._storage.attempts.get_attempt(channel_id)
        status = self._agents.status(login)
        if (
            attempt is not None
            and attempt.amd_decided_at
            and attempt.bridged_at
            and status is not None
            and status.call_id == channel_id
        ):
            pop["dead_air_ms"] = _ms(attempt.bridged_at, attempt.amd_decided_at)
            self.hub.publish(Notice("agent", self.agent_json(status), agent=login))

    async def _learn_name(self, login: str) -> None:
        row = await self._storage.agents.get_agent(login)
        status = self._agents.status(login)
        if row is None or status is None:
            return
        self._names[login] = row.name
        self.hub.publish(Notice("agent", self.agent_json(status), agent=login))

    def disposition_saved(self, login: str, channel_id: str, saved: dict[str, Any]) -> None:
        self.hub.publish(Notice("disposition", {"channel_id": channel_id, **saved}, agent=login))
        self._tasks.spawn(self._publish_callbacks(login))

    async def _publish_callbacks(self, login: str) -> None:
        """The agent's list of callbacks, after a disposition may have added one."""
        try:
            agent_id = self._agents.agent_id(login)
            callbacks = [c.as_json() for c in await self._storage.callbacks.callbacks_of(agent_id)]
        except Exception:
            log.exception("desk.callbacks_failed", agent=login)
            return
        self.hub.publish(Notice("callbacks", {"callbacks": callbacks}, agent=login))

    def recording_changed(self, channel_id: str, shown: dict[str, Any]) -> None:
        """A call's recording started or failed: its agent's desk shows it, and supervisors
        get the count of recent failures when it failed."""
        if len(self._recording) >= MAX_RECORDING_STATES:
            self._recording.pop(next(iter(self._recording)))  # a call whose end was missed
        self._recording[channel_id] = shown
        status = next((s for s in self._agents.all() if s.call_id == channel_id), None)
        if status is not None:
            pop = self._pops.get(status.login)
            if pop is not None and pop.get("channel_id") == channel_id:
                pop["recording"] = shown
            notice = {"channel_id": channel_id, **shown}
            self.hub.publish(Notice("recording", notice, agent=status.login))
            self.hub.publish(Notice("agent", self.agent_json(status), agent=status.login))
        if shown.get("reason"):
            self._tasks.spawn(self._publish_recording_failures())

    async def recording_failures(self) -> dict[str, Any]:
        """Calls with a recording failure in the last hour: on the floor, and per campaign."""
        since = datetime.now(UTC) - RECORDING_FAILURES_PERIOD
        by_campaign = await self._storage.recordings.failed_calls_since(since)
        names = {r.campaign_id: name for name, r in self._campaigns().items()}
        return {
            "period_minutes": int(RECORDING_FAILURES_PERIOD.total_seconds() // 60),
            "calls": sum(by_campaign.values()),
            "by_campaign": {
                names.get(campaign_id, "(none)" if campaign_id is None else str(campaign_id)): n
                for campaign_id, n in by_campaign.items()
            },
        }

    async def _publish_recording_failures(self) -> None:
        try:
            failures = await self.recording_failures()
        except Exception:
            log.exception("desk.recording_failures_failed")
            return
        self.hub.publish(Notice("recording_failures", failures))

    def campaign_changed(self) -> None:
        """A supervisor started, paused or stopped a campaign: everyone watching sees it now."""
        self._tasks.spawn(self._publish_once())

    # ------------------------------------------------------------------ views
    def agent_json(self, status: AgentStatus) -> dict[str, Any]:
        pop = self._pops.get(status.login) if status.state is AgentState.ON_CALL else None
        return {
            "login": status.login,
            "name": self._names.get(status.login),
            "state": status.state.value,
            "since": _iso(status.since),
            "reason": status.reason,
            "call_id": status.call_id,
            "number": pop.get("number") if pop else None,
            "case": (pop.get("case") or {}).get("reference") if pop else None,
            "dead_air_ms": pop.get("dead_air_ms") if pop else None,
            "recording": (pop.get("recording") or {}).get("state") if pop else None,
        }

    async def snapshot(self, me: AgentRow) -> dict[str, Any]:
        """What a browser shows on connecting (and after a resync): an agent his own state,
        call and callbacks; a supervisor the floor and the campaigns."""
        status = self._agents.status(me.login)
        mine = self.agent_json(status) if status else {"login": me.login, "state": "logged_out"}
        body: dict[str, Any] = {
            "me": {**mine, "name": me.name, "role": me.role},
            "screen_pop": self._pops.get(me.login),
            "callbacks": [c.as_json() for c in await self._storage.callbacks.callbacks_of(me.id)],
        }
        if me.role in SUPERVISORS:
            body["agents"] = [self.agent_json(s) for s in self._agents.all()]
            body["names"] = await self._storage.agents.agent_names()
            body["campaigns"] = await self.campaign_figures()
            body["recording_failures"] = await self.recording_failures()
        return body

    async def campaign_figures(self) -> list[dict[str, Any]]:
        now = datetime.now(self._zone)
        midnight = day_start(now, self._zone)
        changes = await self._storage.reports.agent_state_changes_since(midnight)
        ids = {s.login: self._agents.agent_id(s.login) for s in self._agents.all()}
        statuses = self._agents.all()
        figures = []
        for runner in self._campaigns().values():
            campaign = runner.campaign
            profile = campaign.compliance_profile()
            members = set(campaign.agents) if campaign.agents else None
            floor = [s for s in statuses if members is None or s.login in members]
            working = [
                s
                for s in floor
                if s.state in (AgentState.READY, AgentState.RESERVED, AgentState.ON_CALL)
            ]
            member_ids = {ids[s.login] for s in floor} if members else None
            today = await self._storage.reports.campaign_report(runner.campaign_id, midnight)
            day = await self._storage.reports.campaign_report(
                runner.campaign_id, now - timedelta(hours=24)
            )
            figures.append(
                {
                    "name": campaign.name,
                    "dial_mode": campaign.dial_mode,
                    "state": runner.state.value,
                    "placed": runner.placed,
                    "in_flight": runner.in_flight,
                    "live": sum(1 for s in floor if s.state is AgentState.ON_CALL),
                    "today": today.as_json(),
                    "dead_air": {
                        "verdict_to_bridge_p50_ms": day.verdict_to_bridge_p50_ms,
                        "verdict_to_bridge_p99_ms": day.verdict_to_bridge_p99_ms,
                    },
                    "abandon_target": profile.abandon_target,
                    "abandon_rates": {
                        period: rate.as_json()
                        for period, rate in (
                            await self._storage.reports.abandon_rates(
                                runner.campaign_id,
                                now,
                                amd_false_positive_share=profile.amd_false_positive_share,
                            )
                        ).items()
                    },
                    # lines in flight per agent who can take a call
                    "dial_level": round(runner.in_flight / len(working), 2) if working else 0.0,
                    "occupancy": occupancy(
                        [
                            (r.agent_id, r.state, r.at)
                            for r in changes
                            if member_ids is None or r.agent_id in member_ids
                        ],
                        now,
                    ),
                    "chart": [
                        slot.as_json()
                        for slot in await self._storage.reports.campaign_day_chart(
                            runner.campaign_id, midnight
                        )
                    ],
                    "day_start": midnight.isoformat(),
                    "zone": str(self._zone),
                }
            )
        return figures

    def _figures_soon(self) -> None:
        """Campaign figures shortly (once for a burst of changes), if anyone watches."""
        if self._figures_due or not self.hub.supervisors_watching:
            return
        self._figures_due = True
        self._tasks.spawn(self._publish_soon())

    async def _publish_soon(self) -> None:
        await asyncio.sleep(0.3)  # the bridge or the hang-up is on record by then
        self._figures_due = False
        await self._publish_once()

    async def _publish_once(self) -> None:
        try:
            figures = await self.campaign_figures()
        except Exception:
            log.exception("desk.figures_failed")
            return
        self.hub.publish(Notice("campaigns", {"campaigns": figures}))
        await self._publish_recording_failures()  # older failures drop out of the count

    async def _publish_figures(self) -> None:
        """Every few seconds while a supervisor watches; asleep on the hub while none does."""
        while True:
            await self.hub.wait_for_supervisor()
            await asyncio.sleep(self._figures_every)
            if self.hub.supervisors_watching:
                await self._publish_once()
