"""ARI adapter: the REST client, the events websocket and typed event models; which node a
request goes to, and node links (a channel on one node put into a bridge on another).

Asterisk vocabulary (channels, bridges, playbacks) stays in this package; the rest of the
engine speaks of calls, attempts and agents.
"""

from pbx_engine.ari.client import AriClient
from pbx_engine.ari.errors import (
    AriError,
    AriNotServing,
    AriProtocolError,
    AriRefused,
    AriUnavailable,
    ChannelGone,
    UnsafeAriValue,
)
from pbx_engine.ari.stream import Subscription

__all__ = [
    "AriClient",
    "AriError",
    "AriProtocolError",
    "AriRefused",
    "AriNotServing",
    "AriUnavailable",
    "ChannelGone",
    "UnsafeAriValue",
    "Subscription",
]
