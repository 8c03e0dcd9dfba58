"""`Storage`: the asyncpg pool, and one store per concept over it (`storage.agents`,
`storage.cases`, `storage.callbacks`, ...), each in its own module of this package.

Parameters are always bound ($1, $2, ...), never formatted into the SQL text.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg

from pbx_engine.config import DatabaseConfig
from pbx_engine.storage.agent_access import AgentAccess
from pbx_engine.storage.agent_holders import AgentHolders
from pbx_engine.storage.agents import AgentStore
from pbx_engine.storage.attempts import AttemptStore
from pbx_engine.storage.browser_phones import BrowserPhoneRecords
from pbx_engine.storage.callbacks import CallbackStore
from pbx_engine.storage.caller_ids import CallerIdStore
from pbx_engine.storage.campaigns import CampaignStore
from pbx_engine.storage.cases import CaseStore
from pbx_engine.storage.consent import ConsentStore
from pbx_engine.storage.engine_runs import EngineRuns
from pbx_engine.storage.invitations import InvitationStore
from pbx_engine.storage.leases import LeaseStore
from pbx_engine.storage.lookups import LookupStore
from pbx_engine.storage.messages import MessageStore
from pbx_engine.storage.models import AgentRow
from pbx_engine.storage.outbound import OutboundStore
from pbx_engine.storage.payments import PaymentStore
from pbx_engine.storage.recordings import RecordingStore
from pbx_engine.storage.reports import ReportStore
from pbx_engine.storage.room_pins import RoomPinStore
from pbx_engine.storage.rooms import RoomStore
from pbx_engine.storage.sessions import BrowserSessionStore
from pbx_engine.storage.signin import TOKEN_LIFETIME, SignInStore
from pbx_engine.storage.softphones import SoftphoneStore
from pbx_engine.storage.strategies import StrategyStore
from pbx_engine.storage.supervision import SupervisionStore
from pbx_engine.storage.surveys import SurveyStore
from pbx_engine.storage.widget import WidgetStore


async def _undo_open_transaction(connection: asyncpg.Connection) -> None:
    """What a connection needs as it goes back to the pool. asyncpg's own reset runs four
    statements on every release (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL): one more
    round trip for every query. The engine keeps no state on a session (no SET, LISTEN or
    cursor; the migrations' advisory lock is released where it is taken), so only a
    transaction left open, by a cancelled query, is undone."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class StorageUnavailable(Exception):
    """PostgreSQL cannot be used; the message is one line naming the address, cause and fix."""


def database_address(config: DatabaseConfig) -> str:
    """Where PostgreSQL is, as messages name it (a DSN may hold a password: not shown)."""
    return "the [database] dsn" if config.dsn else f"{config.host}:{config.port}"


def unavailable(error: BaseException, config: DatabaseConfig) -> StorageUnavailable:
    """The operator's explanation of a failed connection: what PostgreSQL said, what to fix."""
    where = database_address(config)
    if isinstance(
        error, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        fix = "check [database] user and password (or PBX_ENGINE_DATABASE_PASSWORD)"
    elif isinstance(error, asyncpg.InvalidCatalogNameError):
        fix = "check [database] name, or create the database (docker/postgres-init/ shows how)"
    elif isinstance(error, OSError):
        fix = "is PostgreSQL running and listening there? check [database] host and port"
    else:
        fix = "check the [database] settings"
    if isinstance(error, OSError) and error.errno:
        cause = os.strerror(error.errno)
    else:
        cause = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return StorageUnavailable(f"cannot connect to PostgreSQL at {where}: {cause}: {fix}")


# A query answered this recently shows PostgreSQL alive while every pooled connection is busy.
ANSWERED_LATELY = 1.0  # seconds


class Storage:
    def __init__(self, pool: asyncpg.Pool, engine: str | None = None) -> None:
        self.pool = pool
        # The engine this storage writes for ([dialer] engine_name): its calls are marked with
        # it, and it looks after only its own (and unmarked ones) on reconnecting.
        self.engine = engine
        self.last_answer: float | None = None  # monotonic time of the last query answered
        self.agents = AgentStore(pool)
        self.cases = CaseStore(pool)
        self.campaigns = CampaignStore(pool)
        self.attempts = AttemptStore(pool, engine)
        self.caller_ids = CallerIdStore(pool)
        self.callbacks = CallbackStore(pool)
        self.recordings = RecordingStore(pool)
        self.supervision = SupervisionStore(pool)
        self.rooms = RoomStore(pool)
        self.sessions = BrowserSessionStore(pool)
        self.reports = ReportStore(pool)
        self.signin = SignInStore(pool)
        self.invitations = InvitationStore(pool)
        self.outbound = OutboundStore(pool)
        self.agent_access = AgentAccess(pool)
        self.leases = LeaseStore(pool)
        self.engine_runs = EngineRuns(pool)
        self.browser_phones = BrowserPhoneRecords(pool)
        self.agent_holders = AgentHolders(pool)
        self.room_pins = RoomPinStore(pool)
        self.softphones = SoftphoneStore(pool)
        self.messages = MessageStore(pool)
        self.consent = ConsentStore(pool)
        self.strategies = StrategyStore(pool)
        self.payments = PaymentStore(pool)
        self.surveys = SurveyStore(pool)
        self.lookups = LookupStore(pool)
        self.widget = WidgetStore(pool)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        config: DatabaseConfig,
        *,
        query_timer: Callable[[float], None] | None = None,
        command_timeout: float | None = None,
        engine: str | None = None,
    ) -> AsyncIterator[Storage]:
        """The pool, closed on leaving; `query_timer(seconds)` is told each query's time;
        `command_timeout`: seconds a query may take (None: as long as it needs); `engine`: the
        name of the engine writing (None: a tool, which sees every engine's calls)."""

        storage: Storage | None = None

        def answered(query: asyncpg.connection.LoggedQuery) -> None:
            if storage is not None and query.exception is None:
                storage.last_answer = time.monotonic()
            if query_timer is not None:
                query_timer(query.elapsed)

        async def watch_queries(connection: asyncpg.Connection) -> None:
            connection.add_query_logger(answered)

        try:
            pool = await asyncpg.create_pool(
                min_size=config.min_connections,
                max_size=config.max_connections,
                init=watch_queries,
                reset=_undo_open_transaction,
                command_timeout=command_timeout,
                **config.connect_kwargs(),
            )
        except (OSError, asyncpg.PostgresError) as error:
            raise unavailable(error, config) from None
        storage = cls(pool, engine)
        try:
            yield storage
        finally:
            # close() waits for connections in use; terminate() if that is cut short.
            try:
                await pool.close()
            except BaseException:
                pool.terminate()
                raise

    async def ping(self) -> bool:
        """Whether PostgreSQL answers. While every pooled connection is busy and queries are
        being answered, it does: a `SELECT true` would only wait behind them, and a probe
        timing out there would take a busy database for a lost one (and stop the dialling)."""
        lately = self.last_answer is not None and (
            time.monotonic() - self.last_answer < ANSWERED_LATELY
        )
        if lately and self.pool.get_idle_size() == 0:
            return True
        try:
            return await self.pool.fetchval("SELECT true") is True
        except (OSError, asyncpg.PostgresError):
            return False

    async def write_problem(self, timeout: float) -> str | None:
        """None when PostgreSQL would take a write now; else what stops it, in words that
        name no host or account (shown to anyone asking `/ready`)."""
        try:
            async with asyncio.timeout(timeout):
                async with self.pool.acquire() as connection:
                    # On a standby (in recovery) or with writes switched off, transactions
                    # are read-only: a write would fail.
                    read_only = await connection.fetchval(
                        "SELECT current_setting('transaction_read_only') = 'on'"
                    )
        except TimeoutError:
            return f"no answer within {timeout:g} s"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return "unreachable"
        return "read-only" if read_only else None

    # Kept here with the clock they read: the tests and tools that make tokens call them.
    async def issue_agent_token(
        self, login: str, lifetime: timedelta = TOKEN_LIFETIME
    ) -> str | None:
        """A new API token for the agent (the old one stops working); None: no such agent."""
        issued = await self.signin.issue_token(login, datetime.now(UTC) + lifetime)
        return issued.token if issued else None

    async def agent_by_token(self, token: str) -> AgentRow | None:
        """The token's agent, unless the token has expired (see storage.signin)."""
        return await self.signin.agent_by_token(token, datetime.now(UTC))
