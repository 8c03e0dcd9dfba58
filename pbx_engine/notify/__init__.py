"""Live notices for browsers: the agent desktop and the supervisor wallboard.

`hub` is an in-process publish/subscribe hub (pure asyncio, no I/O): each subscriber has a
bounded queue; one that falls behind loses its oldest notices and is told to resync. `feed`
turns what happens on the floor (agent states, calls put through, dispositions, campaign
figures) into notices.
"""

from pbx_engine.notify.hub import Notice, NotificationHub, Subscription

__all__ = ["Notice", "NotificationHub", "Subscription"]
