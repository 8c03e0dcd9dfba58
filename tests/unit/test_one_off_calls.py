"""A supervisor's one-off call, apart from HTTP: only the centre's own caller IDs, on record
before the outbound policy is asked, 503 when the dialer is not taking calls."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pbx_engine.dialer.one_off import DialerNotAccepting, NotOurCallerId, OneOffCalls
from pbx_engine.dialer.service import DialerClosed
from pbx_engine.storage.models import AgentRow

SUE = AgentRow(3, "sue", "Sue", None, "supervisor", None)
POOL_NUMBER, DEFAULT = "+442079460001", "+442079460009"


class FakeDialer:
    def __init__(self, closed: bool = False) -> None:
        self.closed, self.placed = closed, []

    def place_call(self, request):
        if self.closed:
            raise DialerClosed("the dialer is not accepting calls")
        self.placed.append(request)
        return SimpleNamespace(channel_id="out-1")


def _calls(dialer: FakeDialer, steps: list[str]) -> OneOffCalls:
    async def check(ask):
        steps.append("policy")

    async def record(by, action, target):
        steps.append(f"{action} {target}")

    pools = SimpleNamespace(by_number=lambda: {POOL_NUMBER: "pool"})
    return OneOffCalls(
        dialer,
        SimpleNamespace(check=check),
        SimpleNamespace(pools=pools),
        record,
        region="GB",
        default_caller_id=DEFAULT,
    )


@pytest.mark.parametrize("caller_id", [None, "020 7946 0001", DEFAULT])
async def test_given_our_caller_id_or_none_when_placing_then_recorded_checked_and_dialled(
    caller_id,
):
    dialer, steps = FakeDialer(), []
    placed = await _calls(dialer, steps).place(SUE, "+442079460500", 7, caller_id)
    assert placed.channel_id == "out-1"
    assert steps == ["test_call +442079460500", "policy"]
    assert dialer.placed[0].caller_id in (None, POOL_NUMBER, DEFAULT)


@pytest.mark.parametrize("caller_id", ["+442079469999", "not a number"])
async def test_given_a_caller_id_not_ours_when_placing_then_422_before_anything(caller_id):
    dialer, steps = FakeDialer(), []
    with pytest.raises(NotOurCallerId) as refused:
        await _calls(dialer, steps).place(SUE, "+442079460500", None, caller_id)
    assert refused.value.status == 422 and steps == [] and dialer.placed == []


async def test_given_a_closed_dialer_when_placing_then_503():
    with pytest.raises(DialerNotAccepting) as refused:
        await _calls(FakeDialer(closed=True), []).place(SUE, "+442079460500", None, None)
    assert refused.value.status == 503
