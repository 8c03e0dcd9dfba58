"""FastAGI adapter (panoramisk): a server the dialplan calls for look-ups it cannot do itself."""

from pbx_engine.agi.server import AgiCall, FastAgiServer

__all__ = ["AgiCall", "FastAgiServer"]
