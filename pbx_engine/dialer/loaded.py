"""The campaigns this engine runs, by name.

Services that meet a campaign only by its id (a third party added to its call, an inbound
caller whose case it holds) ask here how it presents itself, speaks and records; a campaign not
loaded in this engine answers None, and the asker uses its own defaults. It exists before the
services that ask and the engine that loads campaigns into it, so neither waits for the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from pbx_engine.dialer.campaign import CampaignRunner
from pbx_engine.dialer.service import CallRequest
from pbx_engine.recording.policy import RecordingPolicy
from pbx_engine.storage import Attempt


class LoadedCampaigns(Mapping[str, CampaignRunner]):
    def __init__(self) -> None:
        self._by_name: dict[str, CampaignRunner] = {}

    def __getitem__(self, name: str) -> CampaignRunner:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def add(self, runner: CampaignRunner) -> None:
        name = runner.campaign.name
        if name in self._by_name:
            raise ValueError(f"campaign {name!r} is loaded already")
        self._by_name[name] = runner

    def by_id(self, campaign_id: int | None) -> CampaignRunner | None:
        if campaign_id is None:
            return None
        return next((r for r in self._by_name.values() if r.campaign_id == campaign_id), None)

    async def presented_identity(
        self, campaign_id: int | None, number: str
    ) -> tuple[str | None, str | None]:
        """Caller ID and trunk for a call made on a campaign's behalf: its rules, else (None,
        None) for the dialer's defaults."""
        runner = self.by_id(campaign_id)
        return await runner.presented_identity(number) if runner else (None, None)

    def language(self, campaign_id: int) -> str | None:
        """The debtor menu's language of a loaded campaign."""
        runner = self.by_id(campaign_id)
        return runner.campaign.language if runner else None

    def handed_request(self, attempt: Attempt) -> CallRequest:
        """The request a person another engine handed here is handled under: his campaign's
        recording and survey when it is loaded here (every engine loads every campaign)."""
        runner = self.by_id(attempt.campaign_id)
        return runner.handed_request(attempt) if runner else CallRequest.on_record(attempt)

    def recording_policy(self, campaign_id: int) -> RecordingPolicy | None:
        """How a loaded campaign records its calls."""
        runner = self.by_id(campaign_id)
        return runner.campaign.recording.policy() if runner else None
