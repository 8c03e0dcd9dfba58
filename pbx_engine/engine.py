"""The composition root: builds every component from the config and its dependencies, wires
them, owns their order. `build_engine` is the one place that does; the builders beside it are
its steps, and no component builds another.

Components are entered into one AsyncExitStack, so they close in reverse order of their start
and a failure half way through start-up still closes what was opened.
"""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from pbx_engine.agents.accounts import SoftphoneAccounts
from pbx_engine.agents.browser_phones import BrowserPhones
from pbx_engine.agents.service import AgentService
from pbx_engine.agi import FastAgiServer
from pbx_engine.agi.routes import lookup_case
from pbx_engine.amd.live import EngineDetector
from pbx_engine.ami import AmiClient
from pbx_engine.ari import AriClient
from pbx_engine.ari.node_links import NODE_LINK, NodeLinks, link_password
from pbx_engine.ari.nodes import only_node
from pbx_engine.ari.presence import EnginePresence
from pbx_engine.ari.router import StasisRouter
from pbx_engine.callerid.service import CallerIdService
from pbx_engine.campaigns.config import CampaignConfig, load_campaign
from pbx_engine.campaigns.run_states import CampaignRunStates
from pbx_engine.conferences.parties import ThirdParties
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.conferences.rooms import Room
from pbx_engine.config import EngineConfig
from pbx_engine.dialer.campaign import CampaignRunner, CampaignState
from pbx_engine.dialer.connector import AgentConnector
from pbx_engine.dialer.elsewhere import HANDED, AgentsElsewhere
from pbx_engine.dialer.loaded import LoadedCampaigns
from pbx_engine.dialer.service import Dialer
from pbx_engine.dialer.takeover import EngineWatch, out_of_reach
from pbx_engine.lookups.service import build_lookups
from pbx_engine.messaging.mailbox import ReplyMailbox
from pbx_engine.messaging.service import MessageService, build_message_service
from pbx_engine.metrics import EngineMetrics
from pbx_engine.metrics.floor import watch_engine
from pbx_engine.notify import NotificationHub
from pbx_engine.notify.feed import FloorFeed
from pbx_engine.outbound.gate import OutboundGate
from pbx_engine.payments.service import build_payment_service
from pbx_engine.readiness import Readiness, check_readiness
from pbx_engine.recording.policy import RecordingMode
from pbx_engine.recording.service import CallRecorder
from pbx_engine.recordkeeper import RecordKeeper, kept_storage
from pbx_engine.recordkeeper.journal import OwedJournal
from pbx_engine.recordkeeper.stores import replayable_write
from pbx_engine.routing.entries import ChannelEntries
from pbx_engine.routing.service import InboundService
from pbx_engine.startup import listening
from pbx_engine.storage import Storage, migrate
from pbx_engine.storage.engine_runs import EngineRun
from pbx_engine.storage.roles import warn_if_privileged
from pbx_engine.strategies.runner import RunningCampaign, StrategyRunner
from pbx_engine.supervision.service import SupervisionService
from pbx_engine.surveys import CallSurveys
from pbx_engine.tasks import OwnedTasks
from pbx_engine.web.api import build_app
from pbx_engine.web.probes import serve_metrics
from pbx_engine.widget.rules import WidgetLimits
from pbx_engine.widget.service import WidgetService

log = structlog.get_logger(__name__)

RECORDING_RECHECK = 30.0  # seconds between recording checks while recordings fail


class Engine:
    """The running engine's services, as the web API and the lab use them. `build_engine`
    builds and wires them, and owns their start and stop order; the engine runs its own
    periodic work between `start()` and `stop()`, and the campaigns loaded into it."""

    def __init__(
        self,
        config: EngineConfig,
        *,
        ari: AriClient,
        ami: AmiClient | None,
        agi: FastAgiServer | None,
        storage: Storage,
        agents: AgentService,
        dialer: Dialer,
        connector: AgentConnector,
        inbound: InboundService,
        callerid: CallerIdService,
        recorder: CallRecorder,
        outbound: OutboundGate,
        supervision: SupervisionService,
        parties: ThirdParties,
        rooms: RoomService,
        campaigns: LoadedCampaigns,
        hub: NotificationHub,
        feed: FloorFeed,
        metrics: EngineMetrics,
        records: RecordKeeper,
        kept_storage: Storage,
        presence: EnginePresence | None = None,
        links: NodeLinks | None = None,
        elsewhere: AgentsElsewhere | None = None,
    ) -> None:
        self.config = config
        # Other engines' agents, read every second while this engine runs.
        self.elsewhere = elsewhere
        self.ari = ari
        self.ami = ami
        self.agi = agi
        self.storage = storage
        self.agents = agents
        self.dialer = dialer
        self.connector = connector  # puts debtors through to agents; ends an agent's call
        self.inbound = inbound
        self.callerid = callerid
        self.recorder = recorder
        self.outbound = outbound  # every external dial passes this one gate
        self.supervision = supervision
        self.parties = parties
        self.rooms = rooms
        self.campaigns = campaigns
        self.hub = hub  # browsers (agent desktop, wallboard) are told of every change here
        self.feed = feed
        self.metrics = metrics  # its series; [metrics] serves them
        self.records = records  # whether a call's writes can be made now, and what is owed
        self.kept_storage = kept_storage  # the same, its call-life writes kept through outages
        self.presence = presence  # its beat on the PBX, for other engines sharing it
        # Callers put through to agents on other Asterisk nodes ([ari] sip_address).
        self.links = links or NodeLinks(ari, {}, "")
        # Agents' PJSIP accounts the engine pushes to Asterisk (and pushes again).
        self.softphones = SoftphoneAccounts(storage, ari, config.asterisk.agent_rtp_timeout)
        # Desks' own phones (WebRTC), made when a desk asks.
        self.browser_phones = BrowserPhones(
            ari,
            storage.browser_phones,
            config.dialer.engine_name,
            config.asterisk.agent_rtp_timeout,
            config.webrtc,
            life=presence.life if presence is not None else None,
        )
        secret = config.http.secret.get_secret_value() if config.http else ""
        # Without a configured secret, links made before a restart stop working.
        self.invitation_secret = secret.encode() if secret else secrets.token_bytes(32)
        self._contact_services(config, storage, feed, inbound)
        self.strategies = StrategyRunner(storage, self.messages, zone=ZoneInfo(config.timezone))
        self._strategy_every = config.messages.strategy_every_seconds
        self.zone = ZoneInfo(config.timezone)  # where the centre's days begin
        self._background = OwnedTasks()
        self._campaign_tasks = OwnedTasks()

    def _contact_services(
        self, config: EngineConfig, storage: Storage, feed: FloorFeed, inbound: InboundService
    ) -> None:
        """Messages to debtors and what goes with them: their opt-out links are signed with
        the invitation secret (set it: a link in a message read after a restart must still
        work); payment links (when [payments] is set), signed with it too, in messages, on the
        agent's screen and by SMS from the phone menu; number look-ups ([lookup]); the reply
        mailbox ([imap])."""
        self.payments = build_payment_service(
            config, storage, secret=self.invitation_secret, public_url=_public_url(config)
        )
        # A number look-up before a number is dialled or texted, when [lookup] is set.
        self.lookups = build_lookups(config, storage)
        self.messages = build_message_service(
            config,
            storage,
            lookups=self.lookups,
            secret=self.invitation_secret,
            public_url=_public_url(config),
            pay_link=self.payments.link if self.payments is not None else None,
        )
        # The creditors' website widget, when [widget] is set; its links signed like the rest.
        self.widget = build_widget_service(
            config, storage, secret=self.invitation_secret, public_url=_public_url(config)
        )
        if self.payments is not None:
            feed.pay_link = self.payments.link
        if config.inbound.pay_link_template is not None:
            inbound.pay_link_sender = partial(
                _text_pay_link, self.messages, config.inbound.pay_link_template
            )
        # Debtors' e-mail replies, read from the centre's mailbox when [imap] is set.
        self.reply_mailbox = (
            ReplyMailbox(config.imap, self.messages) if config.imap is not None else None
        )

    def start(self) -> None:
        """Start the periodic work: number health, recording and sign-in purges, strategies,
        the reply mailbox."""
        self._background.spawn(self._watch_number_health(), name="number-health")
        self._background.spawn(self._purge_recordings(), name="recording-purge")
        self._background.spawn(self._purge_browser_sessions(), name="browser-session-purge")
        self._background.spawn(self._withdraw_left_phones_hourly(), name="left-phones-sweep")
        self._background.spawn(self._recheck_recording(), name="recording-recheck")
        self._background.spawn(
            self.strategies.run(self._campaigns_with_strategies, self._strategy_every),
            name="strategies",
        )
        if self.reply_mailbox is not None:
            self._background.spawn(self.reply_mailbox.run(), name="reply-mailbox")
        if self.presence is not None:
            self._background.spawn(self.presence.run(), name="presence")
        if self.elsewhere is not None:
            self._background.spawn(self.elsewhere.run(), name="agents-elsewhere")

    def watch_other_engines(self, own: EngineRun, taken_over: Callable[[str], None]) -> None:
        """Take over any engine on the database whose beat on this PBX stands still; tell
        `taken_over` if another engine takes this one over while it runs."""
        if self.presence is None:
            return
        watch = EngineWatch(
            self.storage.engine_runs, self.presence, self.dialer, own, taken_over=taken_over
        )
        self._background.spawn(watch.run(), name="engine-watch")

    def _campaigns_with_strategies(self) -> list[RunningCampaign]:
        return [
            RunningCampaign(runner.campaign_id, runner.campaign)
            for runner in self.campaigns.values()
            if runner.campaign.strategy is not None and runner.state is CampaignState.RUNNING
        ]

    async def stop(self) -> None:
        """Stop the periodic work and a pools reload under way (campaigns: `stop_campaigns`)."""
        await self._background.close()

    async def add_campaign(self, campaign: CampaignConfig, *, batch: int = 500) -> CampaignRunner:
        """Mirror the campaign in the database and give it a runner (stopped until started);
        `batch`: how many due cases the planner reads at a time."""
        if campaign.name in self.campaigns:
            raise ValueError(f"campaign {campaign.name!r} is loaded already")
        campaign_id = await self.storage.campaigns.upsert_campaign(
            campaign.name, campaign.dial_mode, campaign.model_dump_json()
        )
        if campaign.caller_id_pools is not None:
            unknown = {
                *campaign.caller_id_pools.pools,
                campaign.caller_id_pools.mobile,
                campaign.caller_id_pools.fallback,
            } - {None, *self.callerid.pools.pools}
            if unknown:
                log.warning("campaign.unknown_pools", campaign=campaign.name, pools=sorted(unknown))
        runner = CampaignRunner(
            campaign,
            campaign_id,
            self.kept_storage,
            self.dialer,
            self.agents,
            batch=batch,
            callerid=self.callerid,
            lookups=self.lookups,
            holder=self.config.dialer.engine_name,
            elsewhere=self.elsewhere,
        )
        self.campaigns.add(runner)
        self._campaign_tasks.spawn(runner.run(), name=f"campaign-{campaign.name}")
        return runner

    async def stop_campaigns(self) -> None:
        """Stop dialling: every campaign stops placing calls (live ones go on)."""
        for runner in self.campaigns.values():
            runner.stop()
        await self._campaign_tasks.close()

    def reload_number_pools_soon(self) -> None:
        """For a signal handler, which must not block: `reload_number_pools` in a task."""
        self._background.spawn(self.reload_number_pools(), name="number-pools-reload")

    async def reload_number_pools(self) -> None:
        """SIGHUP: read the number-pools file again; a bad one is logged and refused."""
        try:
            reloaded = await self.callerid.reload()
        except Exception as error:
            log.error("engine.number_pools_not_reloaded", error=str(error))
        else:
            log.info("engine.number_pools_reloaded", numbers=reloaded.numbers)

    async def _watch_number_health(self) -> None:
        while True:
            await asyncio.sleep(600)
            try:
                await self.callerid.refresh_health()
            except Exception:
                log.exception("engine.number_health_failed")

    async def _purge_recordings(self) -> None:
        """Recordings past their campaign's retention are deleted within the hour."""
        while True:
            try:
                await self.recorder.purge_expired()
            except Exception:
                log.exception("engine.recording_purge_failed")
            await asyncio.sleep(3600)

    async def _withdraw_left_phones_hourly(self) -> None:
        """Left phones kept at the start for the call they carried go once it has ended."""
        while True:
            await asyncio.sleep(3600)
            await self.withdraw_left_phones()

    async def _purge_browser_sessions(self) -> None:
        """Expired and idle sign-ins are refused at once; their rows go within the hour."""
        idle = timedelta(minutes=self.config.web.session_idle_minutes)
        while True:
            try:
                now = datetime.now(UTC)
                purged = await self.storage.sessions.purge_browser_sessions(now)
                purged += await self.storage.signin.purge_idle_sessions(now, idle)
                if purged:
                    log.info("engine.browser_sessions_purged", sessions=purged)
            except Exception:
                log.exception("engine.browser_session_purge_failed")
            await asyncio.sleep(3600)

    async def readiness(self) -> Readiness:
        """Ready means: our Stasis app is registered, PostgreSQL takes writes, AMI is logged in."""
        return await check_readiness(
            self.ari, self.storage, self.ami, recording=self.recorder.health
        )

    async def take_over_agents(self, gone: EngineRun) -> list[str]:
        """A dead engine's agents (those whose legs are in its ARI app) work on with this one,
        after the links its calls went over (an agent's call over a link is its caller's); its
        browser phones are this one's to take out, but for those on a call."""
        await self.links.adopt(from_app=gone.app)
        adopted = await self.agents.adopt_sessions(from_app=gone.app)  # held by this one now
        await self.storage.agent_holders.keep_only(gone.engine, [])  # the rest: legs gone
        await self.storage.browser_phones.hand_over(gone.engine, to=self.config.dialer.engine_name)
        await self.withdraw_left_phones()
        return adopted

    async def withdraw_left_phones(self) -> None:
        """Browser phones earlier runs left in Asterisk (a crash forgets them), taken out
        unless they carry a call; a failure is said, and the next sweep tries again."""
        try:
            await self.browser_phones.withdraw_left()
        except Exception as error:
            if out_of_reach(error):
                log.warning("engine.left_phones_not_withdrawn", error=str(error))
            else:
                log.exception("engine.left_phones_not_withdrawn")

    def records_calls(self) -> bool:
        """Whether any call may be recorded: inbound callers, or a loaded campaign's."""
        if self.config.inbound.recording != RecordingMode.NONE:
            return True
        return any(
            runner.campaign.recording.policy().mode is not RecordingMode.NONE
            for runner in self.campaigns.values()
        )

    async def check_recording_folder(self) -> str | None:
        """Whether Asterisk can write its recordings folder (a throwaway bridge recorded for an
        instant); a failure is one log line naming the folder and the fix, and `/ready` fails
        until a check or a recorded call passes."""
        problem = await self.recorder.check_folder()
        if problem is not None:
            log.error(
                "recording.cannot_record",
                problem=problem,
                folder=str(self.config.asterisk.run_dir / "spool" / "recording"),
                fix="create the folder, writable by the user Asterisk runs as "
                "(`pbx-engine asterisk render --owner USER` makes it); calls go on unrecorded "
                f"and /ready fails until then (checked again every {RECORDING_RECHECK:g} s)",
            )
        return problem

    async def _recheck_recording(self) -> None:
        """While recordings fail, check the folder again: once an operator has fixed it the
        engine is ready again without waiting for a recorded call."""
        while True:
            await asyncio.sleep(RECORDING_RECHECK)
            if not self.recorder.health.failing(datetime.now(UTC)):
                continue
            try:
                if await self.check_recording_folder() is None:
                    log.info("recording.can_record_again")
            except Exception:
                log.exception("engine.recording_check_failed")


@dataclass(frozen=True)
class AsteriskLinks:
    ari: AriClient
    ami: AmiClient | None
    agi: FastAgiServer | None
    presence: EnginePresence  # its beat tells engines sharing the PBX this one runs its calls


async def open_storage(
    stack: AsyncExitStack, config: EngineConfig, metrics: EngineMetrics, *, apply_migrations: bool
) -> Storage:
    storage = await stack.enter_async_context(
        Storage.open(
            config.database,
            query_timer=metrics.database.query_finished,
            command_timeout=config.database.command_timeout,
            engine=config.dialer.engine_name,
        )
    )
    await warn_if_privileged(storage.pool, config.database.allow_superuser)
    if apply_migrations:
        applied = await migrate(storage.pool)
        if applied:
            log.info("engine.migrated", applied=applied)
    return storage


async def connect_asterisk(
    stack: AsyncExitStack, config: EngineConfig, storage: Storage, metrics: EngineMetrics
) -> AsteriskLinks:
    agi = None
    if config.agi is not None:
        agi = FastAgiServer(config.agi)
        agi.add_route("lookup_case", lookup_case(storage, config.default_region))
        with listening("FastAGI", "[agi] port", config.agi.host, config.agi.port):
            await stack.enter_async_context(agi)
    ami = None
    if config.ami is not None:
        ami = await stack.enter_async_context(AmiClient(config.ami))
    ari = await stack.enter_async_context(AriClient(config.ari, metrics=metrics.ari))
    return AsteriskLinks(ari, ami, agi, EnginePresence(ari, config.dialer.engine_name))


async def build_dialer(
    stack: AsyncExitStack,
    config: EngineConfig,
    ari: AriClient,
    storage: Storage,
    agents: AgentService,
    recorder: CallRecorder,
    outbound: OutboundGate,
    metrics: EngineMetrics,
    records: RecordKeeper,
    presence: EnginePresence | None = None,
    *,
    elsewhere: AgentsElsewhere | None = None,
    campaigns: LoadedCampaigns | None = None,
) -> tuple[Dialer, AgentConnector]:
    # One detector for the dialer, which listens, and the connector, which leaves
    # messages once the listening says a machine's greeting is over.
    engine_detector = EngineDetector(
        ari,
        media_host=config.dialer.media_host,
        media_peer=config.dialer.media_peer,
        timeout=config.dialer.amd_timeout,
    )
    surveys = CallSurveys(ari, storage)
    connector = AgentConnector(
        ari,
        storage,
        agents,
        abandon_wait=config.dialer.abandon_wait,
        abandon_message=config.dialer.abandon_message,
        recorder=recorder,
        engine_detector=engine_detector,
        metrics=metrics.calls,
        surveys=surveys,
        elsewhere=elsewhere,
        campaign_request=campaigns.handed_request if campaigns is not None else None,
    )
    agents.on_phone_lost(connector.on_agent_lost)
    dialer = Dialer(
        ari,
        storage,
        config.dialer,
        handler=connector,
        engine_detector=engine_detector,
        outbound=outbound,
        metrics=metrics.calls,
        records=records,
        recordings_failing=lambda: recorder.health.failing(datetime.now(UTC)),
        presence=presence,
    )
    await stack.enter_async_context(dialer)
    # Closed first: a debtor still answering a survey is let go before the calls drain.
    stack.push_async_callback(surveys.close)
    return dialer, connector


def build_conferencing(
    config: EngineConfig,
    ari: AriClient,
    storage: Storage,
    agents: AgentService,
    outbound: OutboundGate,
    campaigns: LoadedCampaigns,
    links: NodeLinks,
) -> tuple[SupervisionService, ThirdParties, RoomService]:
    trunk, caller_id = config.dialer.trunk, config.dialer.caller_id or None
    supervision = SupervisionService(ari, storage, agents, trunk=trunk, outbound=outbound)
    parties = ThirdParties(
        ari,
        storage,
        agents,
        trunk=trunk,
        caller_id=caller_id,
        identity=campaigns.presented_identity,
        outbound=outbound,
    )
    rooms = RoomService(
        ari,
        storage,
        [Room(**room.model_dump()) for room in config.rooms],
        trunk=trunk,
        caller_id=caller_id,
        outbound=outbound,
        allowed_dids=frozenset(config.room_dids),
        links=links,
    )
    return supervision, parties, rooms


def build_agents(
    stack: AsyncExitStack, config: EngineConfig, ari: AriClient, kept: Storage
) -> tuple[AgentService, NodeLinks]:
    """The agents, and the node links that put callers through to agents on other nodes."""
    links = NodeLinks(
        ari,
        config.ari.sip_addresses(),
        link_password(config.ari.password.get_secret_value()),
    )
    stack.push_async_callback(links.close)  # after the agents: their calls hold the links
    agents = AgentService(
        ari,
        kept,
        wrap_up_seconds=config.agents.wrap_up_seconds,
        answer_timeout=config.agents.answer_timeout,
        ring_per_call=config.agents.ring_per_call,
        links=links,
    )
    stack.push_async_callback(agents.close)
    return agents, links


async def build_services(
    stack: AsyncExitStack,
    config: EngineConfig,
    storage: Storage,
    asterisk: AsteriskLinks,
    metrics: EngineMetrics,
) -> Engine:
    ari = asterisk.ari
    # Closed after every call is over, just before the pool: what is owed goes last.
    journal = None
    if config.state_dir is not None:
        journal = OwedJournal(config.state_dir / "owed-writes.jsonl")
        journal.check_writable()
    records = await stack.enter_async_context(RecordKeeper(storage.ping, journal=journal))
    # What a previous run owed and never wrote goes first, before any call is taken.
    await records.replay_journal(partial(replayable_write, storage))
    # The writes of a call's life (its attempt, the agents' states, an abandon's or a
    # caller's callback, its recordings, who listened to it) are kept through an outage; the
    # other writes (an operator's rooms, messages, imports) fail and say so.
    kept = kept_storage(storage, records)
    agents, links = build_agents(stack, config, ari, kept)
    recorder = CallRecorder(ari, kept, metrics=metrics.recordings)
    stack.push_async_callback(recorder.close)
    outbound = OutboundGate(storage, config.outbound, config.default_region)
    campaigns = LoadedCampaigns()
    # Other engines' agents on this database, for predictive pacing and persons handed over.
    elsewhere = AgentsElsewhere(storage.agent_holders, config.dialer.engine_name, ari.apps_heard)
    dialer, connector = await build_dialer(
        stack, config, ari, kept, agents, recorder, outbound, metrics, records, asterisk.presence,
        elsewhere=elsewhere, campaigns=campaigns,
    )  # fmt: skip
    inbound = InboundService(
        ari,
        kept,
        agents,
        config.inbound,
        wrap_up_seconds=config.agents.wrap_up_seconds,
        recorder=recorder,
        campaign_language=campaigns.language,
        campaign_recording=campaigns.recording_policy,
    )
    stack.push_async_callback(inbound.close)
    callerid = CallerIdService(storage, config.number_pools_file)
    await callerid.start()  # a bad pools file stops the start, saying which line
    supervision, parties, rooms = build_conferencing(
        config, ari, kept, agents, outbound, campaigns, links
    )
    hub = NotificationHub()
    feed = FloorFeed(hub, storage, agents, lambda: campaigns, zone=ZoneInfo(config.timezone))
    recorder.on_change(feed.recording_changed)  # the agent's desk shows "not recording"
    # Rooms made through the API come back after a restart (their PINs hashed, if an
    # older engine stored them plain); their calls are let go when the engine stops.
    await rooms.load()
    stack.push_async_callback(rooms.close)
    return Engine(
        config,
        ari=ari,
        ami=asterisk.ami,
        agi=asterisk.agi,
        storage=storage,
        agents=agents,
        dialer=dialer,
        connector=connector,
        inbound=inbound,
        callerid=callerid,
        recorder=recorder,
        outbound=outbound,
        supervision=supervision,
        parties=parties,
        rooms=rooms,
        campaigns=campaigns,
        hub=hub,
        feed=feed,
        metrics=metrics,
        records=records,
        kept_storage=kept,
        presence=asterisk.presence,
        links=links,
        elsewhere=elsewhere,
    )


async def _text_pay_link(messages: MessageService, template: str, case_id: int) -> bool:
    """The case's payment link by SMS, asked for in the phone menu; whether it went."""
    return (await messages.send(case_id, template, "sms")).status == "sent"


def route_new_channels(entries: ChannelEntries, links: NodeLinks, dialer: Dialer) -> StasisRouter:
    """The call flow for each first Stasis argument the dialplan passes (dialplans/*.conf),
    or another engine moving a person here."""
    router = StasisRouter(fallback=entries.unowned)
    router.add("inbound", entries.inbound)
    router.add("dialled", entries.dialled)
    router.add("agent-login", entries.agent_login)
    router.add(NODE_LINK, links.accept)
    router.add(HANDED, dialer.take_handed)
    return router


async def serve_web(stack: AsyncExitStack, config: EngineConfig, engine: Engine) -> None:
    if config.http is None:
        return
    runner = web.AppRunner(build_app(engine), access_log=None)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    with listening("HTTP", "[http] port", config.http.host, config.http.port):
        await web.TCPSite(runner, config.http.host, config.http.port).start()


async def serve_probes(stack: AsyncExitStack, config: EngineConfig, engine: Engine) -> None:
    ami = engine.ami
    watch_engine(
        engine.metrics,
        agents=engine.agents.all,
        campaigns=engine.campaigns.values,
        ari_connected=engine.ari.connected.is_set,
        ami_logged_in=(lambda: ami.logged_in) if ami is not None else None,
        pool=engine.storage.pool,
        nodes=engine.ari.rooms,
    )
    if config.metrics is not None:
        metrics = config.metrics
        with listening("metrics", "[metrics] port", metrics.host, metrics.port):
            await stack.enter_async_context(
                serve_metrics(engine.readiness, engine.metrics, metrics)
            )


def build_widget_service(
    config: EngineConfig, storage: Storage, *, secret: bytes, public_url: str
) -> WidgetService | None:
    widget = config.widget
    if widget is None:
        return None
    limits = WidgetLimits(
        per_address_per_hour=widget.callbacks_per_address_per_hour,
        per_number_per_day=widget.callbacks_per_number_per_day,
    )
    return WidgetService(
        storage,
        secret,
        config.default_region,
        public_url=public_url,
        sites=tuple(widget.sites),
        limits=limits,
        link_days=widget.link_days,
    )


def _public_url(config: EngineConfig) -> str:
    """Where links in messages point: [http] public_url, else the API's own address."""
    http = config.http
    if http is None:
        return ""
    return http.public_url or f"http://{http.host}:{http.port}"


async def load_campaign_files(engine: Engine, patterns: Iterable[str]) -> None:
    """Each campaign file's campaign, resumed as operators last left it (running, paused)."""
    run_states = CampaignRunStates(engine.storage.campaigns)
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) or [pattern]  # a missing file says so when loaded
        for path in paths:
            await run_states.resume(await engine.add_campaign(load_campaign(path)))


@asynccontextmanager
async def build_engine(
    config: EngineConfig,
    *,
    apply_migrations: bool = True,
    on_taken_over: Callable[[str], None] = lambda by: None,
) -> AsyncIterator[Engine]:
    """Every component, built from the config and started in order; on the way out they close
    in reverse order, also when the start fails half way. `on_taken_over(by)`: another engine
    found this one's beat standing still and took its calls and agents while it ran."""
    async with AsyncExitStack() as stack:
        metrics = EngineMetrics()  # each component is handed its part; [metrics] serves them
        storage = await open_storage(stack, config, metrics, apply_migrations=apply_migrations)
        asterisk = await connect_asterisk(stack, config, storage, metrics)
        engine = await build_services(stack, config, storage, asterisk, metrics)
        entries = ChannelEntries(asterisk.ari, engine.agents, engine.inbound, engine.rooms)
        stack.push_async_callback(entries.close)
        engine.start()
        stack.push_async_callback(engine.stop)
        engine.feed.start()
        stack.push_async_callback(engine.feed.close)
        asterisk.ari.on_event(route_new_channels(entries, engine.links, engine.dialer).route)
        asterisk.ari.on_connected(engine.dialer.reconcile)
        asterisk.ari.on_connected(engine.agents.reconcile)  # agents lost in an Asterisk crash
        # Softphone accounts an Asterisk lacks (new, or its astdb lost) are pushed again.
        asterisk.ari.on_connected(engine.softphones.reconcile)
        asterisk.ari.on_connected(engine.links.push)  # the nodes' link endpoint, likewise
        asterisk.ari.on_node_down(engine.agents.node_lost)
        asterisk.ari.on_node_down(engine.dialer.node_lost)
        # A dead engine's agents, still in their bridges, work on with this one.
        engine.dialer.on_engine_gone(engine.take_over_agents)
        await asterisk.ari.wait_connected(timeout=config.ari.request_timeout)
        # The first connection may have come before the callbacks were registered.
        for node in asterisk.ari.nodes:
            if asterisk.ari.node_up(node):
                with only_node(node):
                    await engine.dialer.reconcile()
                    await engine.softphones.reconcile()
                    await engine.links.push()
        own = EngineRun(config.dialer.engine_name, config.ari.app, asterisk.presence.life)
        taken_before = await storage.engine_runs.enter(own)
        stack.push_async_callback(_leave, storage, own)
        adopted: list[str] = []
        if taken_before is None:
            await engine.links.adopt()  # first: an agent's call over a link is its caller's
            adopted = await engine.agents.adopt_sessions()
            if adopted:
                log.info("engine.agents_adopted", agents=adopted)
            await engine.withdraw_left_phones()  # after: an adopted agent's phone stays
        else:
            # Its agents' legs are still in its ARI app, but another engine has them now.
            log.warning("engine.run_before_taken_over", by=taken_before)
        await engine.agents.hold_only(adopted)
        engine.watch_other_engines(own, on_taken_over)
        await serve_web(stack, config, engine)
        await serve_probes(stack, config, engine)
        log.info("engine.started", app=config.ari.app)
        await load_campaign_files(engine, config.campaign_files)
        # Asterisk unable to write its recordings folder does not stop the start: agents'
        # desks, inbound queues and callbacks still work, and the engine can say what is
        # wrong. It is made unready instead, so an orchestrator and the operators see it,
        # and each recorded call says "not recording" on the desk. Checked only where calls
        # are recorded: a centre that records nothing has no use for the folder.
        if engine.records_calls():
            await engine.check_recording_folder()
        try:
            yield engine
        finally:
            # Stop dialling, let live calls end, then the exit stack closes ARI and the pool.
            await engine.stop_campaigns()
            await engine.dialer.drain(config.shutdown_grace)
            log.info("engine.stopped")


async def _leave(storage: Storage, own: EngineRun) -> None:
    """A clean stop off the record of engines running (nobody is to take it over)."""
    try:
        await storage.engine_runs.leave(own)
    except Exception as error:  # a crash's row is replaced at the next start
        log.warning("engine.run_not_left", error=str(error) or type(error).__name__)


# `pbx-engine run`'s exit status when another engine took this one over while it ran.
EXIT_TAKEN_OVER = 3


def exit_taken_over(by: str) -> None:
    """Another engine follows this one's calls and agents now: this one must not act on them
    any more, and a stop would drain (hang up) calls that are no longer its own. It ends at
    once, as a crash would; its service manager starts it again, and the new run adopts
    nothing of this one's."""
    log.error("engine.exiting_taken_over", by=by, status=EXIT_TAKEN_OVER)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TAKEN_OVER)


async def serve(
    config: EngineConfig, stop: asyncio.Event, *, apply_migrations: bool = True
) -> None:
    async with build_engine(
        config, apply_migrations=apply_migrations, on_taken_over=exit_taken_over
    ) as engine:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, engine.reload_number_pools_soon)
        try:
            await stop.wait()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
        log.info("engine.stopping")
