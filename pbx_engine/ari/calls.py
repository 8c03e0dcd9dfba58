"""Calling a phone into our Stasis app and waiting for it to answer: agents' softphones,
supervisors, third parties added to a call, conference invitees."""

from __future__ import annotations

from collections.abc import Iterable

from pbx_engine.ari.client import AriClient
from pbx_engine.ari.events import ChannelDestroyed, StasisStart
from pbx_engine.ari.stream import Subscription


class NotAnswered(Exception):
    """The phone did not answer (busy, no answer, refused): the text says Asterisk's cause."""


async def ring_into_app(
    ari: AriClient,
    endpoint: str,
    *,
    channel_id: str,
    events: Subscription,
    app_args: Iterable[str],
    timeout: float,
    caller_id: str | None = None,
) -> None:
    """Originate `endpoint` into our app as `channel_id` and return once it answers (its
    StasisStart); NotAnswered when it does not, TimeoutError if Asterisk says nothing.
    `events` must follow `channel_id` from before the call, so no early event is missed."""
    # PJSIP fills From from the connected line, which an ARI-made channel lacks: set both.
    variables = {"CALLERID(num)": caller_id, "CONNECTEDLINE(num)": caller_id} if caller_id else None
    await ari.originate(
        endpoint,
        app=ari.app,
        app_args=list(app_args),
        channel_id=channel_id,
        timeout=int(timeout),
        variables=variables,
    )
    first = await events.wait_for((StasisStart, ChannelDestroyed), timeout=timeout + 5)
    if isinstance(first, ChannelDestroyed):
        raise NotAnswered(first.cause_txt or f"cause {first.cause}")
