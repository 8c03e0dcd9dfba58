"""Where a channel that enters our Stasis app with no call flow waiting for it goes.

The dialplan names the flow in the first Stasis argument (`Stasis(app,inbound,CALLER,DID,CASE)`,
`Stasis(app,dialled,NUMBER)`, `Stasis(app,agent-login,ENDPOINT)`); a table maps that argument to
its handler, and anything else (no argument, an unknown one, a leftover after a restart) goes to
the fallback, so no channel hangs in Stasis forever. The table only picks; handlers act, and
must not block: they run in the events reader.
"""

from __future__ import annotations

from collections.abc import Callable

from pbx_engine.ari.events import Event, StasisStart

StasisHandler = Callable[[StasisStart], None]


def stasis_arg(start: StasisStart, index: int) -> str:
    """The Stasis argument at `index`, or "" when the dialplan passed fewer."""
    return start.args[index] if len(start.args) > index else ""


class StasisRouter:
    def __init__(self, fallback: StasisHandler) -> None:
        self._fallback = fallback
        self._handlers: dict[str, StasisHandler] = {}

    def add(self, first_arg: str, handler: StasisHandler) -> None:
        if first_arg in self._handlers:
            raise ValueError(f"Stasis argument {first_arg!r} has a handler already")
        self._handlers[first_arg] = handler

    def handler_for(self, start: StasisStart) -> StasisHandler:
        if not start.args:
            return self._fallback
        return self._handlers.get(start.args[0], self._fallback)

    def route(self, event: Event) -> None:
        """For `AriClient.on_event`: other unclaimed events (a leftover channel's hang-up, a
        bridge's) need nobody."""
        if isinstance(event, StasisStart):
            self.handler_for(event)(event)
