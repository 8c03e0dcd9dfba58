"""Invitation links as rows, apart from HTTP: minting within the limits, the status a dead
link answers with, and a use given back when the call it caused never rang."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from pbx_engine.conferences.invitation_service import InvitationRefused, InvitationService
from pbx_engine.conferences.invitations import Invitation, make_token
from pbx_engine.conferences.room_service import RoomError
from pbx_engine.config import OutboundConfig
from pbx_engine.storage.invitations import InvitationRow
from pbx_engine.storage.models import AgentRow

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
SECRET = b"s" * 32
ANNA = AgentRow(1, "anna", "Anna", None, "agent", None)


class FakeLinks:
    def __init__(self) -> None:
        self.rows: dict[str, InvitationRow] = {}

    async def create(self, id, room, created_by, expires_at, max_uses) -> InvitationRow:
        row = InvitationRow(id, room, created_by, NOW, expires_at, max_uses, 0, None)
        self.rows[id] = row
        return row

    async def get(self, id: str) -> InvitationRow | None:
        return self.rows.get(id)

    async def use(self, id: str, now: datetime) -> InvitationRow | None:
        row = self.rows[id]
        if not row.live(now):
            return None
        self.rows[id] = replace(row, uses=row.uses + 1)
        return self.rows[id]

    async def give_back(self, id: str) -> None:
        self.rows[id] = replace(self.rows[id], uses=self.rows[id].uses - 1)

    async def revoke(self, id: str, room: str, now: datetime) -> bool:
        row = self.rows.get(id)
        if row is None or row.room != room or row.revoked_at is not None:
            return False
        self.rows[id] = replace(row, revoked_at=now)
        return True


class FakeRooms:
    """A room that takes the link's use once it has a seat, then refuses to ring."""

    def room(self, name: str):
        return SimpleNamespace(name=name) if name == "sales" else None

    async def start_dial(self, room, number, *, via, ask, claim):
        assert await claim()
        raise RoomError("the number could not be reached")


def _service() -> tuple[InvitationService, FakeLinks]:
    links = FakeLinks()
    storage = SimpleNamespace(invitations=links)
    limits = OutboundConfig(invitation_max_uses=5, invitation_max_days=2)
    return InvitationService(storage, FakeRooms(), SECRET, limits, clock=lambda: NOW), links


@pytest.mark.parametrize(("seconds", "uses"), [(3 * 86400, None), (3600, 6)])
async def test_given_a_link_beyond_the_limits_when_minting_then_422(seconds, uses):
    service, links = _service()
    with pytest.raises(InvitationRefused) as refused:
        await service.mint("sales", ANNA, seconds, uses)
    assert refused.value.status == 422 and links.rows == {}


async def test_given_a_minted_link_when_read_then_it_is_live_until_revoked():
    service, _ = _service()
    link = await service.mint("sales", ANNA, 3600, None)
    assert link.max_uses == 3  # [outbound]'s default
    assert (await service.live(link.token)).id == link.id
    await service.revoke(link.id, "sales")
    with pytest.raises(InvitationRefused) as withdrawn:
        await service.live(link.token)
    with pytest.raises(InvitationRefused) as again:
        await service.revoke(link.id, "sales")
    assert (withdrawn.value.status, again.value.status) == (410, 404)


@pytest.mark.parametrize(
    ("invitation", "status"),
    [
        (Invitation("sales", NOW - timedelta(seconds=1), "x"), 410),  # expired
        (Invitation("sales", NOW + timedelta(hours=1)), 403),  # made before links were stored
        (Invitation("sales", NOW + timedelta(hours=1), "unknown"), 410),  # never on record
    ],
)
async def test_given_a_dead_link_when_read_then_the_status_says_why(invitation, status):
    service, _ = _service()
    with pytest.raises(InvitationRefused) as refused:
        await service.live(make_token(invitation, SECRET))
    assert refused.value.status == status


async def test_given_a_call_that_never_rang_when_joining_then_the_use_is_given_back():
    service, links = _service()
    link = await service.mint("sales", ANNA, 3600, 1)
    invitation = await service.live(link.token)
    with pytest.raises(RoomError):
        await service.call_in(invitation, "+442079460000", "192.0.2.1")
    assert links.rows[link.id].uses == 0
