"""Typed models of the ARI events the engine handles, and a tolerant fallback for the rest.

Asterisk adds fields from one version to the next (16, 18, 20, 22): the models ignore fields they
do not know, and an event type they do not know becomes an `UnknownEvent` that keeps its data.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pbx_engine.ari.errors import AriProtocolError


def _parse_time(value: Any) -> Any:
    # Asterisk writes "2026-11-23T10:00:00.123+0000"; Python wants a colon in the offset.
    if isinstance(value, str) and len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        return f"{value[:-2]}:{value[-2:]}"
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CallerId(_Model):
    name: str = ""
    number: str = ""


class DialplanCep(_Model):
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""  # what the channel runs now: "Stasis" while an ARI app has it
    app_data: str = ""  # ... with its arguments: "app,arg,..."

    def stasis_app(self) -> str | None:
        """The ARI app the channel is in, if any."""
        return self.app_data.split(",", 1)[0] if self.app_name.lower() == "stasis" else None


class Channel(_Model):
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanCep = DialplanCep()
    creationtime: datetime | None = None
    language: str = ""
    channelvars: dict[str, str] | None = None

    _time = field_validator("creationtime", mode="before")(_parse_time)


class Bridge(_Model):
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()


class Playback(_Model):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""


class LiveRecording(_Model):
    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    cause: str | None = None


class StoredRecording(_Model):
    name: str
    format: str = ""


class Event(_Model):
    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str | None = None

    _time = field_validator("timestamp", mode="before")(_parse_time)

    def channel_ids(self) -> tuple[str, ...]:
        """The channels this event is about: where the reader routes it."""
        channel = getattr(self, "channel", None)
        return (channel.id,) if isinstance(channel, Channel) else ()


class StasisStart(Event):
    channel: Channel
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


class StasisEnd(Event):
    channel: Channel


class ChannelCreated(Event):
    channel: Channel


class ChannelStateChange(Event):
    channel: Channel


class ChannelDestroyed(Event):
    channel: Channel
    cause: int | None = None
    cause_txt: str | None = None


class ChannelHangupRequest(Event):
    channel: Channel
    cause: int | None = None
    soft: bool | None = None


class ChannelVarset(Event):
    variable: str
    value: str = ""
    channel: Channel | None = None


class ChannelDtmfReceived(Event):
    channel: Channel
    digit: str
    duration_ms: int = 0


class ChannelTalkingStarted(Event):
    channel: Channel


class ChannelTalkingFinished(Event):
    channel: Channel
    duration: int = 0


class Dial(Event):
    peer: Channel
    caller: Channel | None = None
    forwarded: Channel | None = None
    dialstatus: str = ""
    dialstring: str | None = None
    forward: str | None = None

    def channel_ids(self) -> tuple[str, ...]:
        ids = [self.peer.id]
        if self.caller is not None and self.caller.id != self.peer.id:
            ids.append(self.caller.id)
        return tuple(ids)


class BridgeCreated(Event):
    bridge: Bridge


class BridgeDestroyed(Event):
    bridge: Bridge


class ChannelEnteredBridge(Event):
    bridge: Bridge
    channel: Channel | None = None


class ChannelLeftBridge(Event):
    bridge: Bridge
    channel: Channel


class _PlaybackEvent(Event):
    playback: Playback

    def channel_ids(self) -> tuple[str, ...]:
        return _target_channel(self.playback.target_uri)


class PlaybackStarted(_PlaybackEvent):
    pass


class PlaybackFinished(_PlaybackEvent):
    pass


class _RecordingEvent(Event):
    recording: LiveRecording

    def channel_ids(self) -> tuple[str, ...]:
        return _target_channel(self.recording.target_uri)


class RecordingStarted(_RecordingEvent):
    pass


class RecordingFinished(_RecordingEvent):
    pass


class RecordingFailed(_RecordingEvent):
    pass


class ApplicationReplaced(Event):
    pass


class UnknownEvent(Event):
    """Any event type the engine has no model for; `data` keeps all of it."""

    data: dict[str, Any] = Field(default_factory=dict)


def _target_channel(uri: str) -> tuple[str, ...]:
    kind, _, ident = uri.partition(":")
    return (ident,) if kind == "channel" and ident else ()


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelCreated,
        ChannelStateChange,
        ChannelDestroyed,
        ChannelHangupRequest,
        ChannelVarset,
        ChannelDtmfReceived,
        ChannelTalkingStarted,
        ChannelTalkingFinished,
        Dial,
        BridgeCreated,
        BridgeDestroyed,
        ChannelEnteredBridge,
        ChannelLeftBridge,
        PlaybackStarted,
        PlaybackFinished,
        RecordingStarted,
        RecordingFinished,
        RecordingFailed,
        ApplicationReplaced,
    )
}


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """One websocket message as a typed event; unknown or unexpected shapes become UnknownEvent."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise AriProtocolError(f"ARI message is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise AriProtocolError(f"ARI message is not a JSON object: {type(data).__name__}")
    kind = data.get("type")
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is not None:
        try:
            return model.model_validate(data)
        except ValidationError:
            pass  # A known type in an unexpected shape: keep it rather than lose it.
    return UnknownEvent(
        type=kind if isinstance(kind, str) else "",
        application=str(data.get("application", "")),
        data=data,
    )
