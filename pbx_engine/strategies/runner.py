"""Running the campaigns' strategies: every few minutes, each running campaign with a strategy
has its cases looked at, each case put on its side of the split (once, kept), and the steps it
is due sent through the message service. A step is on record once sent, or once refused by a
rule that will not change by itself (consent, no address, a stopped case); refused for the
hour or failed at the relay, it is tried again on a later round."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.messaging.service import MessageService
from pbx_engine.storage import Storage
from pbx_engine.strategies.files import StrategyFile, load_strategy
from pbx_engine.strategies.plan import CaseStanding, days_past_due, due_steps, last_outcome
from pbx_engine.strategies.split import side_of

log = structlog.get_logger(__name__)

# Refusals that pass by themselves: the step is tried again on a later round.
# Refusals that pass with time (messages/rules.py's words): the step is tried on a later round.
RETRY_LATER = ("outside the hours", "contact budget")


@dataclass(frozen=True)
class StepResult:
    case_id: int
    strategy: str
    step: str
    status: str  # sent, refused, failed
    reason: str | None


@dataclass(frozen=True)
class RunningCampaign:
    campaign_id: int
    config: CampaignConfig


class StrategyRunner:
    def __init__(
        self,
        storage: Storage,
        messages: MessageService,
        *,
        zone: ZoneInfo,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = 1000,
    ) -> None:
        self._page_size = page_size  # cases read at a time: a campaign may hold 100,000
        self._storage = storage
        self._messages = messages
        self._zone = zone  # the centre's: where "days past due" are counted
        self._clock = clock
        self._files: dict[Path, tuple[float, StrategyFile]] = {}

    def _strategy(self, path: Path) -> StrategyFile:
        """The file, read again when it changed (an operator's edit takes on the next round)."""
        mtime = path.stat().st_mtime
        cached = self._files.get(path)
        if cached is None or cached[0] != mtime:
            self._files[path] = (mtime, load_strategy(path))
        return self._files[path][1]

    async def run(self, campaigns: Callable[[], Iterable[RunningCampaign]], every: float) -> None:
        """Until cancelled: a round every `every` seconds over the campaigns running then."""
        while True:
            for campaign in campaigns():
                try:
                    await self.run_campaign(campaign)
                except Exception:
                    # One campaign's bad file or a lost database must not stop the others.
                    log.exception("strategy.round_failed", campaign=campaign.config.name)
            await asyncio.sleep(every)

    async def run_campaign(self, campaign: RunningCampaign) -> list[StepResult]:
        section = campaign.config.strategy
        if section is None:
            return []
        split = section.split or campaign.config.name
        champion = self._strategy(section.file)
        challenger = self._strategy(section.challenger) if section.challenger else None
        now = self._clock()
        today = now.astimezone(self._zone).date()
        results = []
        for strategy, side in ((champion, "champion"), (challenger, "challenger")):
            if strategy is None:
                continue
            async for row in self._cases(campaign.campaign_id, strategy.name):
                wanted = side_of(split, row.case_id, section.challenger_share)
                if challenger is None:
                    wanted = "champion"
                if wanted != side:
                    continue
                kept = await self._storage.strategies.assign(
                    row.case_id, campaign.campaign_id, split, wanted, strategy.name
                )
                if kept != side:
                    continue  # on record on the other side (the share changed): stays there
                standing = CaseStanding(
                    row.case_id,
                    days_past_due(row.due_date, today),
                    last_outcome(row.last_disposition, row.promise_date, row.paid_since, today),
                    row.segment,
                    row.amount_owed,
                    frozenset(row.steps_done),
                )
                for step in due_steps(strategy, standing):
                    results.append(await self._make(strategy.name, step.step, step, now))
        return results

    async def _cases(self, campaign_id: int, strategy: str):
        """Every case of the campaign, a page at a time."""
        page = self._page_size
        after = 0
        while True:
            rows = await self._storage.strategies.cases_for(
                campaign_id, strategy, after=after, limit=page
            )
            for row in rows:
                yield row
            if len(rows) < page:
                return
            after = rows[-1].case_id

    async def _make(self, strategy: str, name: str, step, now: datetime) -> StepResult:
        with structlog.contextvars.bound_contextvars(strategy=strategy, step=name):
            result = await self._messages.send(step.case_id, step.template, step.action, now=now)
        later = result.status == "failed" or (
            result.status == "refused" and (result.reason or "").startswith(RETRY_LATER)
        )
        if not later:
            await self._storage.strategies.step_done(
                step.case_id, strategy, name, result.status, result.message_id
            )
        return StepResult(step.case_id, strategy, name, result.status, result.reason)
