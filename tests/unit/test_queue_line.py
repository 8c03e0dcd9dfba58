"""The inbound queue's line: callers behind the first wake when it moves or when they hang up,
not by looking again every so often."""

import asyncio

import pytest

from pbx_engine.ari.events import parse_event
from pbx_engine.ari.stream import EventRouter, Subscription
from pbx_engine.routing.service import CallerLeft, InboundService, _Line


def _hang_up(channel_id: str):
    return parse_event(
        {
            "type": "ChannelDestroyed",
            "cause": 16,
            "cause_txt": "Normal Clearing",
            "channel": {
                "id": channel_id,
                "name": "PJSIP/pstn-00000001",
                "state": "Up",
                "caller": {"name": "", "number": "+12025550999"},
                "connected": {"name": "", "number": ""},
                "accountcode": "",
                "dialplan": {"context": "engine", "exten": "s", "priority": 1},
                "creationtime": "2026-12-02T09:00:00.000+0000",
                "language": "en",
            },
        }
    )


def _subscription(channel_id: str) -> Subscription:
    return Subscription(EventRouter(), (channel_id,))


async def test_given_two_callers_when_the_first_leaves_then_the_second_wakes_at_once():
    line = _Line()
    line.callers += ["first", "second"]
    waiting = asyncio.create_task(
        InboundService._wait_behind(line.moved, _subscription("second"), timeout=30)
    )
    await asyncio.sleep(0)
    assert not waiting.done()
    line.leave("first")
    await asyncio.wait_for(waiting, 1)
    assert line.callers == ["second"]


async def test_given_a_caller_behind_when_he_hangs_up_then_caller_left_at_once():
    line = _Line()
    line.callers += ["first", "second"]
    events = _subscription("second")
    waiting = asyncio.create_task(InboundService._wait_behind(line.moved, events, timeout=30))
    await asyncio.sleep(0)
    events.deliver(_hang_up("second"))
    with pytest.raises(CallerLeft):
        await asyncio.wait_for(waiting, 1)


async def test_given_a_caller_behind_when_nothing_happens_then_the_wait_ends_at_its_timeout():
    line = _Line()
    line.callers += ["first", "second"]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await InboundService._wait_behind(line.moved, _subscription("second"), timeout=0.05)
    assert 0.04 <= loop.time() - started < 1
    assert not line.moved.is_set()


async def test_given_the_line_moved_once_when_waiting_again_then_the_old_move_does_not_count():
    line = _Line()
    line.callers += ["first", "second", "third"]
    line.leave("first")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await InboundService._wait_behind(line.moved, _subscription("third"), timeout=0.05)
    assert loop.time() - started >= 0.04
