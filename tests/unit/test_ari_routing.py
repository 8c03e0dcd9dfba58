"""The event router and reconnect schedule, fed directly: no socket, no Asterisk."""

import asyncio

import pytest

from pbx_engine.ari.events import ChannelStateChange, StasisEnd, StasisStart, parse_event
from pbx_engine.ari.stream import EventRouter, Subscription, backoff_delay


def _event(kind: str, channel_id: str, **extra):
    return parse_event({"type": kind, "channel": {"id": channel_id, "state": "Up"}, **extra})


async def test_given_subscriptions_when_events_arrive_then_each_call_gets_its_own_in_order():
    router = EventRouter()
    first, second = Subscription(router, ("a",)), Subscription(router, ("b",))
    for kind, channel in [
        ("StasisStart", "a"),
        ("StasisStart", "b"),
        ("ChannelStateChange", "a"),
        ("StasisEnd", "a"),
    ]:
        router.route(_event(kind, channel))

    assert [type(await first.get(timeout=1)) for _ in range(3)] == [
        StasisStart,
        ChannelStateChange,
        StasisEnd,
    ]
    assert isinstance(await second.get(timeout=1), StasisStart)
    with pytest.raises(TimeoutError):
        await second.get(timeout=0.01)


async def test_given_no_subscriber_when_an_event_arrives_then_the_unclaimed_handler_gets_it():
    router = EventRouter()
    unclaimed = []
    router.set_unclaimed_handler(unclaimed.append)
    with Subscription(router, ("a",)):
        assert router.route(_event("StasisStart", "a"))
    assert not router.route(_event("StasisStart", "a"))  # closed: no longer claimed
    assert [e.channel.id for e in unclaimed] == ["a"]


async def test_given_a_failing_unclaimed_handler_when_routing_then_the_reader_goes_on():
    router = EventRouter()
    router.set_unclaimed_handler(lambda event: 1 / 0)
    assert router.route(_event("StasisStart", "x")) is False


async def test_given_a_subscription_following_two_channels_when_both_are_named_then_once():
    router = EventRouter()
    sub = Subscription(router, ("peer",))
    sub.follow("caller")
    router.route(
        parse_event(
            {
                "type": "Dial",
                "dialstatus": "ANSWER",
                "peer": {"id": "peer"},
                "caller": {"id": "caller"},
            }
        )
    )
    await sub.get(timeout=1)
    with pytest.raises(TimeoutError):
        await sub.get(timeout=0.01)


async def test_given_other_events_first_when_waiting_for_a_kind_then_they_are_skipped():
    router = EventRouter()
    sub = Subscription(router, ("a",))
    router.route(_event("ChannelStateChange", "a"))
    router.route(_event("StasisStart", "a", args=["outbound"]))
    router.route(_event("StasisStart", "a", args=["amd", "MACHINE", "MAXWORDS-3-2"]))

    verdict = await sub.wait_for(StasisStart, lambda e: e.args[:1] == ("amd",), timeout=1)
    assert verdict.args[1] == "MACHINE"
    with pytest.raises(TimeoutError):
        await sub.wait_for(StasisEnd, timeout=0.01)


async def test_given_a_slow_consumer_when_many_events_arrive_then_routing_never_blocks():
    router = EventRouter()
    sub = Subscription(router, ("a",))
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(10_000):
        router.route(_event("ChannelStateChange", "a"))
    assert loop.time() - started < 2.0
    assert sub._queue.qsize() == 10_000


@pytest.mark.parametrize(
    ("attempt", "jitter", "expected"),
    [
        (0, 0.0, 0.25),
        (0, 0.999999, 0.5),
        (1, 0.0, 0.5),
        (3, 0.0, 2.0),
        (10, 0.0, 5.0),
        (10, 0.999999, 10.0),
        (10_000, 0.5, 7.5),
    ],
)
def test_backoff_doubles_up_to_the_cap_and_jitter_spreads_it(attempt, jitter, expected):
    assert backoff_delay(attempt, 0.5, 10.0, jitter) == pytest.approx(expected, rel=1e-5)
