"""The notification hub: who gets which notice, bounded queues, resync after an overflow."""

import asyncio

from pbx_engine.notify import Notice, NotificationHub
from pbx_engine.notify.hub import RESYNC


async def test_given_an_agent_and_a_supervisor_when_notices_are_published_then_each_gets_his():
    hub = NotificationHub()
    anna = hub.subscribe("anna", supervisor=False)
    boss = hub.subscribe("boss", supervisor=True)
    hub.publish(Notice("agent", {"state": "ready"}, agent="anna"))
    hub.publish(Notice("agent", {"state": "paused"}, agent="piotr"))
    hub.publish(Notice("campaigns", {"campaigns": []}))
    assert [(await anna.get()).data["state"]] == ["ready"]
    assert anna.pending() == 0  # neither piotr's notice nor the campaigns
    got = [await boss.get() for _ in range(3)]
    assert [n.kind for n in got] == ["agent", "agent", "campaigns"]


async def test_given_a_slow_subscriber_when_his_queue_overflows_then_he_is_told_to_resync():
    hub = NotificationHub(bound=3)
    slow = hub.subscribe("boss", supervisor=True)
    for i in range(5):
        hub.publish(Notice("agent", {"i": i}, agent="anna"))
    assert slow.dropped == 2
    first = await slow.get()
    assert first.kind == RESYNC
    assert slow.pending() == 0  # the snapshot he fetches replaces what was queued
    hub.publish(Notice("agent", {"i": 5}, agent="anna"))
    assert (await slow.get()).data == {"i": 5}


async def test_given_a_waiting_subscriber_when_the_hub_closes_then_get_returns_none():
    hub = NotificationHub()
    with hub.subscribe("anna", supervisor=False) as sub:
        waiting = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        hub.close()
        assert await asyncio.wait_for(waiting, 1) is None
    assert len(hub) == 0


async def test_given_a_closed_subscription_when_publishing_then_it_is_forgotten():
    hub = NotificationHub()
    with hub.subscribe("boss", supervisor=True):
        assert hub.supervisors_watching
    assert not hub.supervisors_watching
    hub.publish(Notice("campaigns"))  # no one to tell: no error


async def test_given_a_waiting_subscriber_when_a_notice_arrives_then_he_wakes_at_once():
    hub = NotificationHub()
    sub = hub.subscribe("anna", supervisor=False)
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    hub.publish(Notice("screen_pop", {"channel_id": "c1"}, agent="anna"))
    notice = await asyncio.wait_for(waiting, 1)
    assert notice.as_json() == {
        "kind": "screen_pop",
        "agent": "anna",
        "data": {"channel_id": "c1"},
    }


async def test_given_no_supervisor_when_one_subscribes_then_the_waiter_wakes_and_sleeps_after():
    hub = NotificationHub()
    agent = hub.subscribe("anna", supervisor=False)
    waiting = asyncio.create_task(hub.wait_for_supervisor())
    await asyncio.sleep(0)
    assert not waiting.done()  # an agent is not a supervisor
    with hub.subscribe("boss", supervisor=True):
        await asyncio.wait_for(waiting, 1)
        await asyncio.wait_for(hub.wait_for_supervisor(), 1)  # at once while he watches
    agent.close()
    again = asyncio.create_task(hub.wait_for_supervisor())
    await asyncio.sleep(0)
    assert not again.done()  # he left: the figures loop sleeps until the next one comes
    again.cancel()
