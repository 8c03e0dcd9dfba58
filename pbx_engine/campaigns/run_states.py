"""What operators last told each campaign to do (start, pause, stop), kept in the database so
that an engine started again after a crash or an upgrade resumes the floor as it was, instead of
leaving every agent idle until someone notices. A shutdown's drain is not an operator's word and
changes nothing here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import structlog

from pbx_engine.storage.campaigns import CampaignStore

if TYPE_CHECKING:
    from pbx_engine.dialer.campaign import CampaignRunner

log = structlog.get_logger(__name__)


class CampaignRunStates:
    def __init__(self, store: CampaignStore) -> None:
        self._store = store

    async def remember(self, runner: CampaignRunner) -> None:
        """Called after the runner obeyed: a pause or a stop must work while the database is
        away, and then only the memory of it is lost (said in the log)."""
        try:
            await self._store.set_run_state(
                runner.campaign_id, runner.state.value, datetime.now(UTC)
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as error:
            log.warning(
                "campaign.run_state_not_saved",
                campaign=runner.campaign.name,
                state=runner.state.value,
                error=str(error) or type(error).__name__,
            )

    async def resume(self, runner: CampaignRunner) -> None:
        """Put a just-loaded campaign back in the state operators left it in."""
        state = await self._store.run_state(runner.campaign_id)
        if state == "running":
            runner.start()
        elif state == "paused":
            runner.pause()
        else:
            return
        log.info("campaign.resumed", campaign=runner.campaign.name, state=state)
