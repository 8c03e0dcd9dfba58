"""The ARI client: typed REST calls and the events websocket, on one aiohttp session.

`async with AriClient(config) as ari:` connects the events websocket in a reader task that
reconnects for as long as the client is open; REST calls work whether or not it is connected.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import structlog
from yarl import URL

from pbx_engine.ari.errors import (
    UNREACHABLE_FIX,
    AriError,
    AriProtocolError,
    AriUnavailable,
    ChannelGone,
    UnsafeAriValue,
    basic_auth,
    error_for,
    refused,
)
from pbx_engine.ari.events import (
    ApplicationReplaced,
    Bridge,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Event,
    LiveRecording,
    Playback,
    PlaybackFinished,
    StasisEnd,
    StoredRecording,
    parse_event,
)
from pbx_engine.ari.liveness import SilenceWatch, Verdict
from pbx_engine.ari.stream import EventRouter, Subscription, backoff_delay
from pbx_engine.config import AriConfig
from pbx_engine.metrics import AriMetrics, EngineMetrics
from pbx_engine.text import control_character_problem

log = structlog.get_logger(__name__)
# HTTP connections to ARI at most for the requests (the events websocket takes one more);
# the rendered http.conf lets Asterisk hold 200.
MAX_CONNECTIONS = 64

ConnectedCallback = Callable[[], Awaitable[None]]

_ENDINGS = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)


def _params(values: dict[str, Any]) -> dict[str, str]:
    """Query parameters as ARI reads them: no Nones, booleans as words, lists comma-joined."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


def _strings(value: Any, where: str) -> Iterable[tuple[str, str]]:
    """Every string in a JSON body or parameter value, with where it is (keys count too)."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where} name", str(key)
            yield from _strings(item, f"{where} {key}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, where)


def refuse_unsafe_request(method: str, path: str, params: dict[str, Any] | None, json: Any) -> None:
    """UnsafeAriValue when the path, a parameter (appArgs, callerId, ...) or a string of the body
    (channel variables) holds a control character. Asterisk would store it in a channel
    variable or pass it to the dialplan, where a line break can end a command: the values
    may come from a case file or the database, so they are checked here, at the last step."""
    found = [("the path", path), *_strings(params or {}, "parameter")]
    body = dict(json) if isinstance(json, dict) else {"": json}
    variables = body.pop("variables", None)
    if isinstance(variables, dict):
        for name, value in variables.items():
            found += [("a channel variable's name", str(name)), (f"channel variable {name}", value)]
    found += _strings(body, "body")
    for where, text in found:
        problem = control_character_problem(text)
        if problem is not None:
            shown = path if control_character_problem(path) is None else repr(path)
            where = where if control_character_problem(where) is None else repr(where)
            raise UnsafeAriValue(method, shown, f"{where} holds {problem}")


def _connect_failure(error: BaseException) -> str:
    """A short cause: "Connection refused" rather than aiohttp's whole sentence."""
    cause = error.os_error if isinstance(error, aiohttp.ClientConnectorError) else error
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    return str(error) or type(error).__name__


class AriClient:
    def __init__(
        self, config: AriConfig, *, metrics: AriMetrics | None = None, events: bool = True
    ) -> None:
        """`events=False`: REST only, no events websocket. A check uses it: opening the
        websocket under the engine's app name would take a running engine's events."""
        self._config = config
        self._events = events
        self._metrics = metrics or EngineMetrics().ari  # else counted where nobody looks
        self._base = URL(str(config.url)).with_path("/ari")
        self._session: aiohttp.ClientSession | None = None  # the events websocket's
        self._rest: aiohttp.ClientSession | None = None  # renewed when the websocket is lost
        self._reader: asyncio.Task[None] | None = None
        self._callbacks: list[ConnectedCallback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._router = EventRouter()
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.pongs = 0  # pings Asterisk answered: what keeps a quiet events websocket up
        # Why the events websocket did not open last time: said when wait_connected gives up.
        self._refused = asyncio.Event()
        self._last_failure = "no answer yet"

    @property
    def app(self) -> str:
        return self._config.app

    @property
    def host(self) -> str:
        """The PBX's host, as the ARI url names it: where its call audio comes from."""
        return self._config.url.host or "127.0.0.1"

    # ------------------------------------------------------------------ life cycle
    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            # Requests beyond this wait their turn here, not at Asterisk's HTTP server, whose
            # session limit (http.conf) drops a connection too many.
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            headers={
                "Authorization": basic_auth(
                    self._config.username, self._config.password.get_secret_value()
                )
            },
            timeout=aiohttp.ClientTimeout(total=self._config.request_timeout),
        )

    async def __aenter__(self) -> AriClient:
        self._session = self._new_session()
        self._rest = self._new_session()
        if self._events:
            self._reader = asyncio.create_task(self._read_forever(), name="ari-events")
        return self

    async def __aexit__(self, *exc_info) -> None:
        tasks = [t for t in (self._reader, *self._callback_tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reader = None
        for session in (self._session, self._rest):
            if session is not None:
                await session.close()
        self._session = self._rest = None
        self.connected.clear()

    def on_event(self, handler: Callable[[Event], None]) -> None:
        """`handler(event)` gets every event no subscription claimed (e.g. a new inbound call's
        StasisStart). It runs in the reader: it must not block; start a task for real work."""
        self._router.set_unclaimed_handler(handler)

    def on_connected(self, callback: ConnectedCallback) -> None:
        """`await callback()` after every (re)connection: rebuild state, events were lost."""
        self._callbacks.append(callback)

    async def wait_connected(self, timeout: float) -> None:
        """Wait for the events websocket; AriRefused at once when Asterisk refuses the user,
        AriUnavailable naming the last failure when `timeout` passes."""
        waits = [asyncio.create_task(e.wait()) for e in (self.connected, self._refused)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if self.connected.is_set():
            return
        url, user = self._config.url, self._config.username
        if self._refused.is_set():
            raise refused(url, user, self._last_failure)
        raise AriUnavailable(
            f"no ARI events websocket to {url} within {timeout:.0f} s ({self._last_failure}): "
            f"{UNREACHABLE_FIX}"
        )

    def subscribe(self, *channel_ids: str) -> Subscription:
        """Events about these channels, from now on. Subscribe *before* creating a channel with
        a chosen id, so that no early event is missed; use as a (async) context manager."""
        return Subscription(self._router, channel_ids)

    # ------------------------------------------------------------------ events websocket
    async def _read_forever(self) -> None:
        assert self._session is not None
        url = (self._base / "events").with_query(app=self.app, subscribeAll="false")
        url = url.with_scheme("wss" if url.scheme == "https" else "ws")
        attempt = 0
        while True:
            try:
                # Pings and pongs come to the reader (autoping off): every byte heard counts
                # for the liveness deadline, which aiohttp's own heartbeat would hide.
                async with self._session.ws_connect(
                    url, autoping=False, timeout=aiohttp.ClientWSTimeout(ws_close=5)
                ) as ws:
                    attempt = 0
                    self._refused.clear()
                    self.connected.set()
                    log.info(
                        "ari.connected",
                        url=str(self._config.url),
                        app=self.app,
                        reconnects=self.reconnects,
                    )
                    self._run_connected_callbacks()
                    reason = await self._read(ws)
                log.warning("ari.disconnected", reason=reason)
            except aiohttp.WSServerHandshakeError as error:
                level = log.error if error.status in (401, 403) else log.warning
                level("ari.handshake_failed", status=error.status, message=error.message)
                self._last_failure = f"HTTP {error.status}"
                if error.status in (401, 403):
                    self._refused.set()
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning("ari.connect_failed", error=str(error) or type(error).__name__)
                self._last_failure = _connect_failure(error)
            finally:
                lost = self.connected.is_set()
                if lost:
                    self.reconnects += 1
                    self._metrics.reconnected()
                self.connected.clear()
            if lost:
                await self._renew_rest()
            delay = backoff_delay(
                attempt, self._config.reconnect_initial, self._config.reconnect_max, random.random()
            )
            attempt += 1
            await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Route events until the websocket ends; why it ended. A link silent past
        `dead_after` (half-open: nothing will ever come) is closed here, without waiting for
        Asterisk's half of the closing handshake."""
        loop = asyncio.get_running_loop()
        watch = SilenceWatch(self._config.heartbeat, self._config.dead_after, loop.time())
        while True:
            try:
                message = await ws.receive(timeout=watch.wait(loop.time()))
            except TimeoutError:
                verdict = watch.verdict(loop.time())
                if verdict is Verdict.PING:
                    try:
                        await ws.ping()
                    except (aiohttp.ClientError, OSError) as error:
                        return f"ping failed: {error or type(error).__name__}"
                elif verdict is Verdict.DEAD:
                    silent = loop.time() - watch.last_heard
                    log.warning("ari.silent", seconds=round(silent, 2), app=self.app)
                    # After a receive timeout aiohttp's close() sends the close frame and
                    # drops the connection at once: no reply is awaited from a dead peer.
                    await ws.close()
                    return "silent: no answer to a ping"
                continue
            watch.heard(loop.time())
            if message.type == aiohttp.WSMsgType.TEXT:
                self._handle_text(message.data)
            elif message.type == aiohttp.WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type == aiohttp.WSMsgType.PONG:
                self.pongs += 1
            elif message.type == aiohttp.WSMsgType.ERROR:
                return f"error: {message.data}"
            elif message.type in _ENDINGS:
                return "closed by Asterisk"

    def _handle_text(self, data: str) -> None:
        try:
            event = parse_event(data)
        except AriProtocolError as error:
            log.warning("ari.bad_message", error=str(error))
            return
        if isinstance(event, ApplicationReplaced):
            log.error("ari.application_replaced", app=self.app)
        self._router.route(event)
        if event.timestamp is not None and event.timestamp.tzinfo is not None:
            lag = datetime.now(UTC) - event.timestamp
            self._metrics.event_handled(lag.total_seconds())

    def _run_connected_callbacks(self) -> None:
        for callback in self._callbacks:
            task = asyncio.create_task(self._guarded(callback))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _guarded(self, callback: ConnectedCallback) -> None:
        try:
            await callback()
        except Exception:
            log.exception("ari.connected_callback_failed")

    # ------------------------------------------------------------------ REST
    async def _renew_rest(self) -> None:
        """After the websocket is lost: REST goes on fresh connections. The pooled ones took
        the same path (a half-open one drops every request; one reset when the path came back
        fails the next request on it with "Server disconnected")."""
        old, self._rest = self._rest, self._new_session()
        if old is not None:
            await old.close()  # requests still on it fail now (AriUnavailable), not later

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        refuse_unsafe_request(method, path, params, json)
        if self._rest is None:
            raise AriUnavailable("the ARI client is not open")
        url = self._base.with_path(self._base.path + path)
        try:
            async with self._rest.request(
                method, url, params=_params(params or {}), json=json
            ) as response:
                if response.status >= 400:
                    message = await response.text()
                    try:
                        message = (await response.json(content_type=None)).get("message", message)
                    except (ValueError, AttributeError):
                        pass
                    raise error_for(response.status, method, path, message)
                if response.status == 204:
                    return None
                if response.content_type == "application/json":
                    return await response.json()
                return await response.read()
        except (aiohttp.ClientConnectionError, TimeoutError) as error:
            raise AriUnavailable(f"{method} {path}: {_connect_failure(error)}") from None

    async def _gone_is_false(self, call: Awaitable[Any]) -> bool:
        try:
            await call
        except ChannelGone:
            return False
        return True

    # asterisk / applications
    async def ping(self) -> dict[str, Any]:
        return await self._request("GET", "/asterisk/info")

    # asterisk / dynamic configuration: sorcery objects pushed to a writable back end (astdb)
    async def get_config_object(
        self, config_class: str, object_type: str, object_id: str
    ) -> dict[str, str] | None:
        """The object's fields, whichever back end holds it; None: Asterisk has none."""
        try:
            fields = await self._request(
                "GET", f"/asterisk/config/dynamic/{config_class}/{object_type}/{object_id}"
            )
        except AriError as error:
            if error.status == 404:
                return None
            raise
        return {field["attribute"]: field["value"] for field in fields}

    async def put_config_object(
        self, config_class: str, object_type: str, object_id: str, fields: dict[str, str]
    ) -> None:
        """Create or replace the object (fields left out take their defaults). An object from
        a configuration file cannot be replaced: AriError 403."""
        body = {"fields": [{"attribute": k, "value": v} for k, v in fields.items()]}
        await self._request(
            "PUT", f"/asterisk/config/dynamic/{config_class}/{object_type}/{object_id}", json=body
        )

    async def delete_config_object(
        self, config_class: str, object_type: str, object_id: str
    ) -> bool:
        """False: Asterisk had no such object. One from a configuration file: AriError 403."""
        try:
            await self._request(
                "DELETE", f"/asterisk/config/dynamic/{config_class}/{object_type}/{object_id}"
            )
        except AriError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def get_global(self, name: str) -> str | None:
        """A global dialplan variable's value (None or "": not set)."""
        try:
            data = await self._request("GET", "/asterisk/variable", params={"variable": name})
        except AriError as error:
            if error.status == 404:
                return None
            raise
        return data.get("value")

    async def set_global(self, name: str, value: str) -> None:
        await self._request("POST", "/asterisk/variable", params={"variable": name, "value": value})

    async def subscribe_app_to_channel(self, channel_id: str) -> bool:
        """Have this app's websocket hear a channel another app runs (a call taken over from
        another engine); False: the channel is gone."""
        try:
            await self._request(
                "POST",
                f"/applications/{self.app}/subscription",
                params={"eventSource": f"channel:{channel_id}"},
            )
        except AriError as error:
            if error.status in (404, 422):  # "Event source does not exist"
                return False
            raise
        return True

    async def get_application(self, name: str | None = None) -> dict[str, Any]:
        return await self._request("GET", f"/applications/{name or self.app}")

    # channels
    async def create_channel(
        self,
        endpoint: str,
        *,
        app: str,
        channel_id: str | None = None,
        app_args: Iterable[str] | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        variables: dict[str, str] | None = None,
    ) -> Channel:
        data = await self._request(
            "POST",
            "/channels/create",
            params={
                "endpoint": endpoint,
                "app": app,
                "channelId": channel_id,
                "appArgs": list(app_args) if app_args else None,
                "otherChannelId": other_channel_id,
                "originator": originator,
                "formats": formats,
            },
            json={"variables": variables} if variables else None,
        )
        return Channel.model_validate(data)

    async def dial(
        self, channel_id: str, *, caller: str | None = None, timeout: int | None = None
    ) -> None:
        await self._request(
            "POST", f"/channels/{channel_id}/dial", params={"caller": caller, "timeout": timeout}
        )

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: Iterable[str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        variables: dict[str, str] | None = None,
    ) -> Channel:
        data = await self._request(
            "POST",
            "/channels",
            params={
                "endpoint": endpoint,
                "app": app,
                "appArgs": list(app_args) if app_args else None,
                "channelId": channel_id,
                "otherChannelId": other_channel_id,
                "callerId": caller_id,
                "timeout": timeout,
                "context": context,
                "extension": extension,
                "priority": priority,
            },
            json={"variables": variables} if variables else None,
        )
        return Channel.model_validate(data)

    async def hangup(self, channel_id: str, reason: str = "normal") -> bool:
        """Hang up; False when the channel was gone already (not an error)."""
        return await self._gone_is_false(
            self._request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
        )

    async def answer(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{channel_id}/answer")

    async def ring(self, channel_id: str) -> None:
        await self._request("POST", f"/channels/{channel_id}/ring")

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self._request(
            "POST",
            f"/channels/{channel_id}/continue",
            params={
                "context": context,
                "extension": extension,
                "priority": priority,
                "label": label,
            },
        )

    async def move(
        self, channel_id: str, *, app: str, app_args: Iterable[str] | None = None
    ) -> None:
        await self._request(
            "POST",
            f"/channels/{channel_id}/move",
            params={"app": app, "appArgs": list(app_args) if app_args else None},
        )

    async def get_channel(self, channel_id: str) -> Channel | None:
        try:
            return Channel.model_validate(await self._request("GET", f"/channels/{channel_id}"))
        except ChannelGone:
            return None

    async def list_channels(self) -> list[Channel]:
        return [Channel.model_validate(c) for c in await self._request("GET", "/channels")]

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        try:
            data = await self._request(
                "GET", f"/channels/{channel_id}/variable", params={"variable": name}
            )
        except ChannelGone as error:
            if error.status == 404 and "variable" in error.message.lower():
                return None  # Asterisk says 404 both for an unset variable and a gone channel.
            raise
        return data.get("value")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self._request(
            "POST", f"/channels/{channel_id}/variable", params={"variable": name, "value": value}
        )

    async def play(
        self,
        channel_id: str,
        media: str | list[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        path = f"/channels/{channel_id}/play" + (f"/{playback_id}" if playback_id else "")
        data = await self._request("POST", path, params={"media": media, "lang": lang})
        return Playback.model_validate(data)

    async def play_to_end(
        self, events: Subscription, channel_id: str, media: str | list[str], *, timeout: float
    ) -> Event:
        """Play `media` and wait until it has finished or the channel has gone (hung up, or left
        Stasis); returns the event that ended the wait. `events` must follow `channel_id`."""
        playback = await self.play(channel_id, media)
        return await events.wait_for(
            (PlaybackFinished, StasisEnd, ChannelDestroyed),
            lambda e: not isinstance(e, PlaybackFinished) or e.playback.id == playback.id,
            timeout=timeout,
        )

    async def ask_key(
        self, events: Subscription, channel_id: str, media: list[str], *, wait: float
    ) -> str | None:
        """Play `media` (a key cuts it short) and return the first key pressed, during it or
        within `wait` seconds after; None for silence. ChannelGone when the channel goes (hung
        up, or left Stasis). `events` must follow `channel_id`."""
        loop = asyncio.get_running_loop()
        playback = await self.play(channel_id, media) if media else None
        deadline = None if playback is not None else loop.time() + wait
        while True:
            timeout = 60.0 if deadline is None else deadline - loop.time()
            if timeout <= 0:
                return None
            try:
                event = await events.get(timeout)
            except TimeoutError:
                if deadline is not None:
                    return None
                continue
            if isinstance(event, ChannelDestroyed | StasisEnd):
                raise ChannelGone(404, "WAIT", f"/channels/{channel_id}", "hung up")
            if isinstance(event, ChannelDtmfReceived):
                if playback is not None and deadline is None:
                    await self.stop_playback(playback.id)
                return event.digit
            if (
                isinstance(event, PlaybackFinished)
                and playback is not None
                and event.playback.id == playback.id
            ):
                deadline = loop.time() + wait

    async def stop_playback(self, playback_id: str) -> bool:
        return await self._gone_is_false(self._request("DELETE", f"/playbacks/{playback_id}"))

    async def record(
        self,
        channel_id: str,
        *,
        name: str,
        format: str = "wav",
        max_duration: int | None = None,
        max_silence: int | None = None,
        if_exists: str = "fail",
        beep: bool = False,
        terminate_on: str = "none",
    ) -> LiveRecording:
        data = await self._request(
            "POST",
            f"/channels/{channel_id}/record",
            params={
                "name": name,
                "format": format,
                "maxDurationSeconds": max_duration,
                "maxSilenceSeconds": max_silence,
                "ifExists": if_exists,
                "beep": beep,
                "terminateOn": terminate_on,
            },
        )
        return LiveRecording.model_validate(data)

    async def record_bridge(
        self, bridge_id: str, *, name: str, format: str = "wav", if_exists: str = "fail"
    ) -> LiveRecording:
        """Record what a bridge mixes (Asterisk adds a recorder channel of its own to it)."""
        data = await self._request(
            "POST",
            f"/bridges/{bridge_id}/record",
            params={"name": name, "format": format, "ifExists": if_exists},
        )
        return LiveRecording.model_validate(data)

    async def get_live_recording(self, name: str) -> LiveRecording | None:
        """A recording under way (None once it is over: its file is closed by then)."""
        try:
            return LiveRecording.model_validate(
                await self._request("GET", f"/recordings/live/{name}")
            )
        except ChannelGone:
            return None

    async def stop_recording(self, name: str) -> bool:
        return await self._gone_is_false(self._request("POST", f"/recordings/live/{name}/stop"))

    async def pause_recording(self, name: str) -> None:
        await self._request("POST", f"/recordings/live/{name}/pause")

    async def unpause_recording(self, name: str) -> None:
        await self._request("DELETE", f"/recordings/live/{name}/pause")

    async def snoop(
        self,
        channel_id: str,
        *,
        app: str,
        spy: str = "none",
        whisper: str = "none",
        snoop_id: str | None = None,
        app_args: Iterable[str] | None = None,
    ) -> Channel:
        data = await self._request(
            "POST",
            f"/channels/{channel_id}/snoop",
            params={
                "app": app,
                "spy": spy,
                "whisper": whisper,
                "snoopId": snoop_id,
                "appArgs": list(app_args) if app_args else None,
            },
        )
        return Channel.model_validate(data)

    async def external_media(
        self,
        *,
        app: str,
        external_host: str,
        audio_format: str = "ulaw",
        channel_id: str | None = None,
        direction: str = "both",
    ) -> Channel:
        """A UnicastRTP channel that sends the audio it is given, as RTP over UDP, to
        `external_host` (host:port) and plays what comes back (Asterisk 16.6 and later)."""
        data = await self._request(
            "POST",
            "/channels/externalMedia",
            params={
                "app": app,
                "external_host": external_host,
                "format": audio_format,
                "channelId": channel_id,
                "encapsulation": "rtp",
                "transport": "udp",
                "connection_type": "client",
                "direction": direction,
            },
        )
        return Channel.model_validate(data)

    async def send_dtmf(self, channel_id: str, dtmf: str, *, between_ms: int | None = None) -> None:
        await self._request(
            "POST", f"/channels/{channel_id}/dtmf", params={"dtmf": dtmf, "between": between_ms}
        )

    async def mute(self, channel_id: str, direction: str = "both") -> None:
        await self._request("POST", f"/channels/{channel_id}/mute", params={"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "both") -> None:
        await self._request(
            "DELETE", f"/channels/{channel_id}/mute", params={"direction": direction}
        )

    # bridges
    async def create_bridge(
        self, *, bridge_type: str = "mixing", bridge_id: str | None = None, name: str | None = None
    ) -> Bridge:
        data = await self._request(
            "POST", "/bridges", params={"type": bridge_type, "bridgeId": bridge_id, "name": name}
        )
        return Bridge.model_validate(data)

    async def add_channel(
        self, bridge_id: str, channel_ids: str | list[str], *, role: str | None = None
    ) -> None:
        await self._request(
            "POST",
            f"/bridges/{bridge_id}/addChannel",
            params={"channel": channel_ids, "role": role},
        )

    async def remove_channel(self, bridge_id: str, channel_ids: str | list[str]) -> None:
        await self._request(
            "POST", f"/bridges/{bridge_id}/removeChannel", params={"channel": channel_ids}
        )

    async def destroy_bridge(self, bridge_id: str) -> bool:
        return await self._gone_is_false(self._request("DELETE", f"/bridges/{bridge_id}"))

    async def get_bridge(self, bridge_id: str) -> Bridge | None:
        try:
            return Bridge.model_validate(await self._request("GET", f"/bridges/{bridge_id}"))
        except ChannelGone:
            return None

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.model_validate(b) for b in await self._request("GET", "/bridges")]

    async def start_channel_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._request("POST", f"/channels/{channel_id}/moh", params={"mohClass": moh_class})

    async def stop_channel_moh(self, channel_id: str) -> bool:
        return await self._gone_is_false(self._request("DELETE", f"/channels/{channel_id}/moh"))

    async def start_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self._request("POST", f"/bridges/{bridge_id}/moh", params={"mohClass": moh_class})

    async def stop_moh(self, bridge_id: str) -> None:
        await self._request("DELETE", f"/bridges/{bridge_id}/moh")

    async def play_on_bridge(
        self, bridge_id: str, media: str, *, playback_id: str | None = None
    ) -> Playback:
        data = await self._request(
            "POST", f"/bridges/{bridge_id}/play", params={"media": media, "playbackId": playback_id}
        )
        return Playback.model_validate(data)

    # stored recordings
    async def get_stored_recording(self, name: str) -> StoredRecording | None:
        try:
            data = await self._request("GET", f"/recordings/stored/{name}")
        except ChannelGone:
            return None
        return StoredRecording.model_validate(data)

    async def get_stored_recording_file(self, name: str) -> bytes:
        return await self._request("GET", f"/recordings/stored/{name}/file")

    async def delete_stored_recording(self, name: str) -> bool:
        return await self._gone_is_false(self._request("DELETE", f"/recordings/stored/{name}"))
