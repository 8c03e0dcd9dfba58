"""A campaign's lease, kept by one engine's runner: when it is taken and renewed, and when the
runner must stop placing calls (by its own clock, the database silent or not)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbx_engine.dialer.lease import CampaignLease


def test_a_lease_not_held_is_due_and_places_nothing():
    lease = CampaignLease()
    assert lease.due(0.0) and not lease.may_place(0.0)


def test_a_held_lease_places_until_its_margin_and_is_renewed_on_time():
    lease = CampaignLease(seconds=8, renew_every=2, margin=1.5)
    lease.held(token=3, asked_at=100.0)
    assert lease.may_place(100.1) and not lease.due(101.9)
    assert lease.due(102.0)
    assert lease.may_place(106.4) and not lease.may_place(106.5)  # 8 - 1.5 after asking


def test_a_database_that_stops_answering_stops_the_placing_before_the_lease_runs_out():
    """Renewals fail (no answer): nothing moves `asked_at`, so the runner's own clock ends
    its placing 1.5 s before another engine may take the campaign."""
    lease = CampaignLease()
    lease.held(token=1, asked_at=0.0)
    placing = [t / 10 for t in range(0, 100) if lease.may_place(t / 10)]
    assert max(placing) < lease.seconds - lease.margin


def test_a_refused_take_is_counted_and_places_nothing():
    lease = CampaignLease()
    lease.refused()
    assert lease.refusals == 1 and not lease.may_place(0.0) and lease.due(0.0)


def test_a_lost_lease_places_nothing_and_is_taken_again_when_due():
    lease = CampaignLease()
    lease.held(token=1, asked_at=0.0)
    lease.lost()
    assert not lease.may_place(0.1) and lease.due(0.1) and lease.token is None


def test_renewing_no_sooner_than_the_margin_allows_is_refused():
    with pytest.raises(ValueError):
        CampaignLease(seconds=8, renew_every=7, margin=1.5)


@given(
    asks=st.lists(st.floats(0, 5), min_size=1, max_size=30),
    later=st.floats(0, 20),
)
def test_placing_is_allowed_only_inside_a_lease_the_database_can_still_hold(asks, later):
    """Whatever the renewals' timing: a call may be placed `later` seconds after the last of
    them only if that renewal asked no more than `seconds - margin` before."""
    lease = CampaignLease()
    now, asked = 0.0, []
    for gap in asks:
        now += gap
        lease.held(token=1, asked_at=now)
        asked.append(now)
    probe = now + later
    assert lease.may_place(probe) == (probe - asked[-1] < lease.seconds - lease.margin)
