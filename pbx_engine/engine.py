"""The composition root: builds every component from the config, wires them, owns their order.

Components are entered into one AsyncExitStack, so they close in reverse order of their start
and a failure half way through start-up still closes what was opened.
"""

from __future__ import annotations

import asyncio
import glob
import secrets
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from pbx_engine.agents.service import AgentService
from pbx_engine.agi import FastAgiServer
from pbx_engine.agi.routes import lookup_case
from pbx_engine.amd.live import EngineDetector
from pbx_engine.ami import AmiClient
from pbx_engine.ari import AriClient
from pbx_engine.ari.events import Event, StasisStart
from pbx_engine.callerid.service import CallerIdService
from pbx_engine.campaigns.config import CampaignConfig, load_campaign
from pbx_engine.conferences.parties import ThirdParties
from pbx_engine.conferences.room_service import RoomService
from pbx_engine.conferences.rooms import Room
from pbx_engine.config import EngineConfig
from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.dialer.connector import AgentConnector
from pbx_engine.dialer.service import Dialer
from pbx_engine.notify import NotificationHub
from pbx_engine.notify.feed import FloorFeed
from pbx_engine.outbound.gate import OutboundGate
from pbx_engine.recording.policy import RecordingMode, RecordingPolicy
from pbx_engine.recording.service import CallRecorder
from pbx_engine.routing.service import InboundService
from pbx_engine.startup import listening
from pbx_engine.storage import Storage, migrate
from pbx_engine.storage.roles import warn_if_privileged
from pbx_engine.supervision.service import SupervisionService
from pbx_engine.tasks import OwnedTasks
from pbx_engine.web.api import build_app

log = structlog.get_logger(__name__)


class Engine:
    def __init__(
        self,
        config: EngineConfig,
        ari: AriClient,
        storage: Storage,
        dialer: Dialer,
        inbound: InboundService,
        agents: AgentService,
        ami: AmiClient | None = None,
        agi: FastAgiServer | None = None,
        callerid: CallerIdService | None = None,
        recorder: CallRecorder | None = None,
        supervision: SupervisionService | None = None,
        parties: ThirdParties | None = None,
        rooms: RoomService | None = None,
        outbound: OutboundGate | None = None,
    ) -> None:
        # Every external dial passes this one gate (the dialer is handed it too).
        self.outbound = outbound or OutboundGate(storage, config.outbound, config.default_region)
        self.recorder = recorder or CallRecorder(ari, storage)
        self.supervision = supervision or SupervisionService(
            ari, storage, agents, trunk=config.dialer.trunk, outbound=self.outbound
        )
        self.parties = parties or ThirdParties(
            ari,
            storage,
            agents,
            trunk=config.dialer.trunk,
            caller_id=config.dialer.caller_id or None,
            identity=self.outbound_identity,
            outbound=self.outbound,
        )
        self.rooms = rooms or RoomService(
            ari,
            storage,
            [Room(**room.model_dump()) for room in config.rooms],
            trunk=config.dialer.trunk,
            caller_id=config.dialer.caller_id or None,
            outbound=self.outbound,
            allowed_dids=frozenset(config.room_dids),
        )
        secret = config.http.secret.get_secret_value() if config.http else ""
        # Without a configured secret, links made before a restart stop working.
        self.invitation_secret = secret.encode() if secret else secrets.token_bytes(32)
        self.config = config
        self.callerid = callerid or CallerIdService(storage)
        self.ari = ari
        self.storage = storage
        self.dialer = dialer
        self.inbound = inbound
        self.agents = agents
        self.ami = ami
        self.agi = agi
        self._background = OwnedTasks()
        self.campaigns: dict[str, CampaignRunner] = {}
        self._campaign_tasks = OwnedTasks()
        # Browsers (agent desktop, wallboard) are told of every change through the hub.
        self.hub = NotificationHub()
        self.zone = ZoneInfo(config.timezone)  # where the centre's days begin
        self.feed = FloorFeed(self.hub, storage, agents, lambda: self.campaigns, zone=self.zone)

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
            self.storage,
            self.dialer,
            self.agents,
            batch=batch,
            callerid=self.callerid,
        )
        self.campaigns[campaign.name] = runner
        self._campaign_tasks.spawn(runner.run(), name=f"campaign-{campaign.name}")
        return runner

    async def outbound_identity(
        self, campaign_id: int | None, number: str
    ) -> tuple[str | None, str | None]:
        """Caller ID and trunk for a call the engine makes on a campaign's behalf (a third
        party added to one of its calls): the campaign's rules, else the dialer's defaults."""
        for runner in self.campaigns.values():
            if runner.campaign_id == campaign_id:
                return await runner.presented_identity(number)
        return None, None

    async def inbound_recording(self, case_id: int | None) -> RecordingPolicy | None:
        """How to record a caller put through to an agent: as his case's campaign records
        its calls when it runs here, else as the `[inbound]` section says."""
        campaign_id = await self.storage.cases.case_campaign_id(case_id) if case_id else None
        for runner in self.campaigns.values():
            if campaign_id is not None and runner.campaign_id == campaign_id:
                return runner.campaign.recording.policy()
        inbound = self.config.inbound
        return RecordingPolicy(RecordingMode(inbound.recording), inbound.recording_retention_days)

    def campaign_language(self, campaign_id: int) -> str | None:
        """The debtor menu's language of a loaded campaign (None: not loaded here)."""
        for runner in self.campaigns.values():
            if runner.campaign_id == campaign_id:
                return runner.campaign.language
        return None

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

    async def _stop_campaigns(self) -> None:
        for runner in self.campaigns.values():
            runner.stop()
        await self._campaign_tasks.close()

    async def health(self) -> dict[str, bool]:
        """Healthy means: our Stasis app is registered with Asterisk and PostgreSQL answers."""
        checks = {"ari": self.ari.connected.is_set(), "database": await self.storage.ping()}
        if self.ami is not None:
            checks["ami"] = self.ami.logged_in
        return checks

    def _on_unclaimed(self, event: Event) -> None:
        # A channel entering our app that no call flow owns (an inbound call before the inbound
        # flow exists, or a leftover after a restart) must not hang in Stasis forever.
        if isinstance(event, StasisStart) and event.args[:1] == ("inbound",):
            did = event.args[2] if len(event.args) > 2 else ""
            room = self.rooms.room_for_number(did) if did else None
            if room is not None:
                caller = event.args[1] if len(event.args) > 1 else None
                self.rooms.accept(event.channel.id, room, caller or None)
            else:
                self.inbound.accept(event)
        elif isinstance(event, StasisStart) and event.args[:1] == ("dialled",):
            # A softphone dialled a number that is no feature code: a room's extension, or
            # nothing we know (an error tone).
            room = self.rooms.room_for_number(event.args[1]) if len(event.args) > 1 else None
            if room is not None:
                self.rooms.accept(event.channel.id, room, event.channel.caller.number or None)
            else:
                self._background.spawn(self.agents.refuse(event.channel.id))
        elif isinstance(event, StasisStart) and event.args[:1] == ("agent-login",):
            endpoint = event.args[1] if len(event.args) > 1 else ""
            self._background.spawn(self.agents.login_from_phone(event.channel.id, endpoint))
        elif isinstance(event, StasisStart):
            log.warning("engine.unowned_channel", channel_id=event.channel.id, args=event.args)
            self._background.spawn(self.ari.hangup(event.channel.id))


@asynccontextmanager
async def build_engine(
    config: EngineConfig, *, apply_migrations: bool = True
) -> AsyncIterator[Engine]:
    async with AsyncExitStack() as stack:
        storage = await stack.enter_async_context(Storage.open(config.database))
        await warn_if_privileged(storage.pool, config.database.allow_superuser)
        if apply_migrations:
            applied = await migrate(storage.pool)
            if applied:
                log.info("engine.migrated", applied=applied)
        agi = None
        if config.agi is not None:
            agi = FastAgiServer(config.agi)
            agi.add_route("lookup_case", lookup_case(storage, config.default_region))
            with listening("FastAGI", "[agi] port", config.agi.host, config.agi.port):
                await stack.enter_async_context(agi)
        ami = None
        if config.ami is not None:
            ami = await stack.enter_async_context(AmiClient(config.ami))
        ari = await stack.enter_async_context(AriClient(config.ari))
        agents = AgentService(
            ari,
            storage,
            wrap_up_seconds=config.agents.wrap_up_seconds,
            answer_timeout=config.agents.answer_timeout,
            ring_per_call=config.agents.ring_per_call,
        )
        stack.push_async_callback(agents.close)
        recorder = CallRecorder(ari, storage)
        stack.push_async_callback(recorder.close)
        # One detector for the dialer, which listens, and the connector, which leaves
        # messages once the listening says a machine's greeting is over.
        engine_detector = EngineDetector(
            ari,
            media_host=config.dialer.media_host,
            media_peer=config.dialer.media_peer,
            timeout=config.dialer.amd_timeout,
        )
        connector = AgentConnector(
            ari,
            storage,
            agents,
            abandon_wait=config.dialer.abandon_wait,
            abandon_message=config.dialer.abandon_message,
            recorder=recorder,
            engine_detector=engine_detector,
        )
        outbound = OutboundGate(storage, config.outbound, config.default_region)
        dialer = await stack.enter_async_context(
            Dialer(
                ari,
                storage,
                config.dialer,
                handler=connector,
                engine_detector=engine_detector,
                outbound=outbound,
            )
        )
        inbound = InboundService(
            ari,
            storage,
            agents,
            config.inbound,
            wrap_up_seconds=config.agents.wrap_up_seconds,
        )
        stack.push_async_callback(inbound.close)
        callerid = CallerIdService(storage, config.number_pools_file)
        await callerid.start()  # a bad pools file stops the start, saying which line
        engine = Engine(
            config,
            ari,
            storage,
            dialer,
            inbound,
            agents,
            ami,
            agi,
            callerid,
            recorder,
            outbound=outbound,
        )
        # Rooms made through the API come back after a restart (their PINs hashed, if an
        # older engine stored them plain); their calls are let go when the engine stops.
        await engine.rooms.load()
        stack.push_async_callback(engine.rooms.close)
        inbound.campaign_language = engine.campaign_language
        inbound.recording_policy = engine.inbound_recording
        inbound.recorder = recorder
        stack.push_async_callback(engine._background.close)
        engine._background.spawn(engine._watch_number_health())
        engine._background.spawn(engine._purge_recordings())
        engine._background.spawn(engine._purge_browser_sessions())
        engine.feed.start()
        stack.push_async_callback(engine.feed.close)
        ari.on_event(engine._on_unclaimed)
        ari.on_connected(dialer.reconcile)
        await ari.wait_connected(timeout=config.ari.request_timeout)
        # The first connection may have come before the callback was registered.
        await dialer.reconcile()
        adopted = await agents.adopt_sessions()
        if adopted:
            log.info("engine.agents_adopted", agents=adopted)
        if config.http is not None:
            runner = web.AppRunner(build_app(engine), access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            with listening("HTTP", "[http] port", config.http.host, config.http.port):
                await web.TCPSite(runner, config.http.host, config.http.port).start()
        log.info("engine.started", app=config.ari.app)
        for pattern in config.campaign_files:
            paths = sorted(glob.glob(pattern)) or [pattern]  # a missing file says so below
            for path in paths:
                await engine.add_campaign(load_campaign(path))
        try:
            yield engine
        finally:
            # Stop dialling, let live calls end, then the exit stack closes ARI and the pool.
            await engine._stop_campaigns()
            await dialer.drain(config.shutdown_grace)
            log.info("engine.stopped")


async def serve(
    config: EngineConfig, stop: asyncio.Event, *, apply_migrations: bool = True
) -> None:
    async with build_engine(config, apply_migrations=apply_migrations) as engine:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(
            signal.SIGHUP, lambda: engine._background.spawn(engine.reload_number_pools())
        )
        try:
            await stop.wait()
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
        log.info("engine.stopping")
