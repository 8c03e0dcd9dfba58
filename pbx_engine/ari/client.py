"""The ARI client: typed REST calls and the events websocket, on one aiohttp session.

`async with AriClient(config) as ari:` connects the events websocket in a reader task that
reconnects for as long as the client is open; REST calls work whether or not it is connected.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
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
from pbx_engine.ari.nodes import (
    NodeMap,
    NodeRoom,
    Route,
    current_node,
    listing_node,
    on_node,
    only_node,
    pick_node,
    route_of,
)
from pbx_engine.ari.stream import EventRouter, Subscription, backoff_delay
from pbx_engine.config import AriConfig, ConfigError
from pbx_engine.metrics import AriMetrics, EngineMetrics
from pbx_engine.text import control_character_problem

log = structlog.get_logger(__name__)
# HTTP connections to ARI at most for the requests (the events websocket takes one more);
# the rendered http.conf lets Asterisk hold 200.
MAX_CONNECTIONS = 64

ConnectedCallback = Callable[[], Awaitable[None]]

# What a node answers for a resource it does not have (a channel, bridge, playback, or the
# event source of a subscription).
_NOT_HERE = frozenset({404, 409, 422})
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,80}")
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


def tls_trusting(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context that trusts the CA in `ca_file` (PEM); ConfigError if unreadable."""
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"ari.ca_file: {ca_file}: {error.strerror or error}") from None


def _connect_failure(error: BaseException) -> str:
    """A short cause: "Connection refused" rather than aiohttp's whole sentence."""
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        verdict = getattr(error.certificate_error, "verify_message", "") or error.certificate_error
        return f"the node's certificate is not trusted ({verdict}): see [ari] ca_file"
    cause = error.os_error if isinstance(error, aiohttp.ClientConnectorError) else error
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno)
    return str(error) or type(error).__name__


class _Link:
    """One Asterisk node: its REST session and its events websocket (which reconnects for as
    long as the client is open)."""

    def __init__(
        self, client: AriClient, name: str, config: AriConfig, max_channels: int | None
    ) -> None:
        self.client = client
        self.name = name
        self.config = config
        self.max_channels = max_channels
        self.base = URL(str(config.url)).with_path("/ari")
        self.session: aiohttp.ClientSession | None = None  # the events websocket's
        self.rest: aiohttp.ClientSession | None = None  # renewed when the websocket is lost
        self.reader: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.pongs = 0  # pings Asterisk answered: what keeps a quiet events websocket up
        # Why the events websocket did not open last time: said when wait_connected gives up.
        self.refused = asyncio.Event()
        self.last_failure = "no answer yet"

    @property
    def host(self) -> str:
        return self.config.url.host or "127.0.0.1"

    def new_session(self) -> aiohttp.ClientSession:
        config = self.config
        return aiohttp.ClientSession(
            # Requests beyond this wait their turn here, not at Asterisk's HTTP server, whose
            # session limit (http.conf) drops a connection too many.
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, ssl=self.client.tls),
            headers={
                "Authorization": basic_auth(config.username, config.password.get_secret_value())
            },
            timeout=aiohttp.ClientTimeout(total=config.request_timeout),
        )

    def open(self, events: bool) -> None:
        self.session = self.new_session()
        self.rest = self.new_session()
        if events:
            with on_node(self.name):
                self.reader = asyncio.create_task(
                    self._read_forever(), name=f"ari-events-{self.name}"
                )

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)
            self.reader = None
        for session in (self.session, self.rest):
            if session is not None:
                await session.close()
        self.session = self.rest = None
        self.connected.clear()

    async def _read_forever(self) -> None:
        assert self.session is not None
        app = self.config.app
        url = (self.base / "events").with_query(app=app, subscribeAll="false")
        url = url.with_scheme("wss" if url.scheme == "https" else "ws")
        attempt = 0
        while True:
            try:
                # Pings and pongs come to the reader (autoping off): every byte heard counts
                # for the liveness deadline, which aiohttp's own heartbeat would hide.
                async with self.session.ws_connect(
                    url, autoping=False, timeout=aiohttp.ClientWSTimeout(ws_close=5)
                ) as ws:
                    attempt = 0
                    self.refused.clear()
                    self.connected.set()
                    log.info(
                        "ari.connected",
                        url=str(self.config.url),
                        node=self.name,
                        app=app,
                        reconnects=self.reconnects,
                    )
                    self.client._link_up(self)
                    reason = await self._read(ws)
                log.warning("ari.disconnected", reason=reason, node=self.name)
            except aiohttp.WSServerHandshakeError as error:
                level = log.error if error.status in (401, 403) else log.warning
                level("ari.handshake_failed", status=error.status, message=error.message)
                self.last_failure = f"HTTP {error.status}"
                if error.status in (401, 403):
                    self.refused.set()
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                log.warning(
                    "ari.connect_failed", error=str(error) or type(error).__name__, node=self.name
                )
                self.last_failure = _connect_failure(error)
            finally:
                lost = self.connected.is_set()
                if lost:
                    self.reconnects += 1
                    self.client._link_down(self)
                self.connected.clear()
                self.client._links_changed()
            if lost:
                await self._renew_rest()
            delay = backoff_delay(
                attempt, self.config.reconnect_initial, self.config.reconnect_max, random.random()
            )
            attempt += 1
            await asyncio.sleep(delay)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Route events until the websocket ends; why it ended. A link silent past
        `dead_after` (half-open: nothing will ever come) is closed here, without waiting for
        Asterisk's half of the closing handshake."""
        loop = asyncio.get_running_loop()
        watch = SilenceWatch(self.config.heartbeat, self.config.dead_after, loop.time())
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
                    log.warning("ari.silent", seconds=round(silent, 2), node=self.name)
                    # After a receive timeout aiohttp's close() sends the close frame and
                    # drops the connection at once: no reply is awaited from a dead peer.
                    await ws.close()
                    return "silent: no answer to a ping"
                continue
            watch.heard(loop.time())
            if message.type == aiohttp.WSMsgType.TEXT:
                self.client._handle_text(message.data, self.name)
            elif message.type == aiohttp.WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type == aiohttp.WSMsgType.PONG:
                self.pongs += 1
            elif message.type == aiohttp.WSMsgType.ERROR:
                return f"error: {message.data}"
            elif message.type in _ENDINGS:
                return "closed by Asterisk"

    async def _renew_rest(self) -> None:
        """After the websocket is lost: REST goes on fresh connections. The pooled ones took
        the same path (a half-open one drops every request; one reset when the path came back
        fails the next request on it with "Server disconnected")."""
        old, self.rest = self.rest, self.new_session()
        if old is not None:
            await old.close()  # requests still on it fail now (AriUnavailable), not later

    async def request(
        self, method: str, path: str, params: dict[str, Any] | None, json: Any
    ) -> Any:
        if self.rest is None:
            raise AriUnavailable("the ARI client is not open")
        url = self.base.with_path(self.base.path + path)
        try:
            async with self.rest.request(
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


class AriClient:
    """ARI on one Asterisk node, or on several (`[[ari.nodes]]`): each node has its own
    events websocket and reconnect; every request goes to the node of what it is about
    (`pbx_engine.ari.nodes`), and the events of all nodes reach the same handlers."""

    def __init__(
        self, config: AriConfig, *, metrics: AriMetrics | None = None, events: bool = True
    ) -> None:
        """`events=False`: REST only, no events websocket. A check uses it: opening the
        websocket under the engine's app name would take a running engine's events."""
        self._config = config
        self._events = events
        self._metrics = metrics or EngineMetrics().ari  # else counted where nobody looks
        # Nodes reached over https: certificates checked, against [ari] ca_file when given.
        self.tls: ssl.SSLContext | bool = True
        if config.ca_file is not None:
            self.tls = tls_trusting(config.ca_file)
        self._links = {config.node: _Link(self, config.node, config, config.max_channels)}
        for node in config.nodes:
            node_config = config.model_copy(update={"url": node.url})
            self._links[node.name] = _Link(self, node.name, node_config, node.max_channels)
        self._map = NodeMap()
        self._callbacks: list[ConnectedCallback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._down_listeners: list[Callable[[str], None]] = []
        self._router = EventRouter()
        self.connected = asyncio.Event()  # set while any node's events are heard

    @property
    def app(self) -> str:
        return self._config.app

    @property
    def host(self) -> str:
        """The host of the PBX node in hand, as its ARI url names it: where its call audio
        comes from."""
        return self._link_in_hand().host

    @property
    def nodes(self) -> list[str]:
        return list(self._links)

    @property
    def reconnects(self) -> int:
        return sum(link.reconnects for link in self._links.values())

    @property
    def pongs(self) -> int:
        return sum(link.pongs for link in self._links.values())

    def node_up(self, name: str) -> bool:
        link = self._links.get(name)
        return link is not None and link.connected.is_set()

    def node_of_channel(self, channel_id: str) -> str | None:
        """The node a channel lives on (None: not known to the engine)."""
        if len(self._links) == 1:
            return self._config.node
        return self._map.node_of(("channel", channel_id))

    def node_of_bridge(self, bridge_id: str) -> str | None:
        """The node a bridge lives on (None: not known to the engine)."""
        if len(self._links) == 1:
            return self._config.node
        return self._map.node_of(("bridge", bridge_id))

    def node_for_new_call(self) -> str | None:
        """The node new work goes to: the one in hand, else the one with most room among those
        up (None: none is up with room)."""
        if len(self._links) == 1:
            return self._config.node
        name = current_node.get()
        if name in self._links:
            return name
        return pick_node(self.rooms())

    async def endpoint_node(self, endpoint: str) -> str | None:
        """The node a PJSIP endpoint (a softphone) is registered on, where it can be rung;
        None when it is on no node that answers (or on every one: no node of its own)."""
        if len(self._links) == 1:
            return self._config.node
        if not _ENDPOINT_NAME.fullmatch(endpoint):
            return None  # no softphone's name: nothing to ask (nor to put in a path)
        online = []
        for name, link in self._links.items():
            if not link.connected.is_set():
                continue
            try:
                found = await link.request("GET", f"/endpoints/PJSIP/{endpoint}", None, None)
            except (AriError, AriUnavailable):
                continue
            if isinstance(found, dict) and found.get("state") == "online":
                online.append(name)
        return online[0] if len(online) == 1 else None

    def sip_websocket_url(self, node: str | None) -> URL:
        """A node's SIP-over-WebSocket address (its HTTP server's /ws); the first heard when
        the node is not one of ours."""
        link = self._links.get(node or "") or self._heard_first()[0]
        url = URL(str(link.config.url)).with_path("/ws")
        return url.with_scheme("wss" if url.scheme == "https" else "ws")

    def rooms(self) -> list[NodeRoom]:
        return [
            NodeRoom(name, link.connected.is_set(), self._map.channels_on(name), link.max_channels)
            for name, link in self._links.items()
        ]

    def _link_in_hand(self) -> _Link:
        """The node in hand; with none, the first one heard (else the first configured)."""
        name = current_node.get()
        if name in self._links:
            return self._links[name]
        return next(iter(self._heard_first()))

    def _heard_first(self) -> list[_Link]:
        links = list(self._links.values())
        return sorted(links, key=lambda link: not link.connected.is_set())

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> AriClient:
        for link in self._links.values():
            link.open(self._events)
        return self

    async def __aexit__(self, *exc_info) -> None:
        tasks = list(self._callback_tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._links.values():
            await link.close()
        self.connected.clear()

    def on_event(self, handler: Callable[[Event], None]) -> None:
        """`handler(event)` gets every event no subscription claimed (e.g. a new inbound call's
        StasisStart). It runs in the reader: it must not block; start a task for real work."""
        self._router.set_unclaimed_handler(handler)

    def on_connected(self, callback: ConnectedCallback) -> None:
        """`await callback()` after every (re)connection of a node, on that node
        (`current_node`): rebuild state, events were lost."""
        self._callbacks.append(callback)

    async def wait_connected(self, timeout: float) -> None:
        """Wait for the events websocket of every node; with several nodes, those heard by
        then are enough (the others join when they answer). AriRefused at once when Asterisk
        refuses the user, AriUnavailable naming the last failure when `timeout` passes."""
        links = list(self._links.values())

        async def every_node_heard() -> None:
            for link in links:
                await link.connected.wait()

        waits = [
            asyncio.create_task(every_node_heard()),
            *(asyncio.create_task(link.refused.wait()) for link in links),
        ]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if any(link.refused.is_set() for link in links):
            link = next(link for link in links if link.refused.is_set())
            raise refused(link.config.url, link.config.username, link.last_failure)
        if self.connected.is_set():
            for link in links:
                if not link.connected.is_set():
                    log.warning("ari.node_not_heard", node=link.name, why=link.last_failure)
            return
        link = links[0]
        raise AriUnavailable(
            f"no ARI events websocket to {link.config.url} within {timeout:.0f} s "
            f"({link.last_failure}): {UNREACHABLE_FIX}"
        )

    def subscribe(self, *channel_ids: str) -> Subscription:
        """Events about these channels, from now on. Subscribe *before* creating a channel with
        a chosen id, so that no early event is missed; use as a (async) context manager."""
        return Subscription(self._router, channel_ids)

    # ------------------------------------------------------------------ events
    def _link_up(self, link: _Link) -> None:
        # What the node had may be gone (it restarted): what lives is learnt again from the
        # requests about it and from its events. Kept while it was away: its agents and calls
        # are not taken for another node's meanwhile.
        self._map.forget_node(link.name)
        self._links_changed()
        callbacks = list(self._callbacks)
        if len(self._links) > 1:
            callbacks.insert(0, self._check_system_name)
        for callback in callbacks:
            with only_node(link.name):  # the callback's task works on this node alone
                task = asyncio.create_task(self._guarded(callback))
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _check_system_name(self) -> None:
        """Channel ids Asterisk makes (an inbound call's) are its uniqueids: two nodes may make
        the same one unless each has a `systemname` of its own, which prefixes them."""
        info = await self._link_in_hand().request("GET", "/asterisk/info", None, None)
        name = ((info or {}).get("config") or {}).get("name") or ""
        if not name:
            log.error(
                "ari.node_without_systemname",
                node=current_node.get(),
                fix="set systemname in its asterisk.conf [options], a name of its own per node",
            )

    def _link_down(self, link: _Link) -> None:
        self._metrics.reconnected()
        if len(self._links) > 1:
            for listener in self._down_listeners:
                try:
                    listener(link.name)
                except Exception:
                    log.exception("ari.node_down_listener_failed", node=link.name)

    def on_node_down(self, listener: Callable[[str], None]) -> None:
        """`listener(node)` when one of several nodes' events websocket is lost (its agents
        cannot be reached and its calls are not heard)."""
        self._down_listeners.append(listener)

    def _links_changed(self) -> None:
        if any(link.connected.is_set() for link in self._links.values()):
            self.connected.set()
        else:
            self.connected.clear()

    def _handle_text(self, data: str, node: str) -> None:
        try:
            event = parse_event(data)
        except AriProtocolError as error:
            log.warning("ari.bad_message", error=str(error), node=node)
            return
        if isinstance(event, ApplicationReplaced):
            log.error("ari.application_replaced", app=self.app, node=node)
        self._map.seen(event, node)
        with on_node(node):  # handlers' tasks start on the node the event came from
            self._router.route(event)
        self._map.ended(event)
        if event.timestamp is not None and event.timestamp.tzinfo is not None:
            lag = datetime.now(UTC) - event.timestamp
            self._metrics.event_handled(lag.total_seconds())

    async def _guarded(self, callback: ConnectedCallback) -> None:
        try:
            await callback()
        except Exception:
            log.exception("ari.connected_callback_failed")

    # ------------------------------------------------------------------ REST
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        refuse_unsafe_request(method, path, params, json)
        if len(self._links) == 1:
            return await next(iter(self._links.values())).request(method, path, params, json)
        route = route_of(method, path, params)
        if route.kind == "new":
            return await self._on_new_node(route, method, path, params, json)
        if route.kind == "at":
            return await self._at_owner(route, method, path, params, json)
        if route.kind == "any":
            return await self._link_in_hand().request(method, path, params, json)
        alone = listing_node.get()
        if alone in self._links:
            # A callback working on one node (its reconnect) lists and writes that node only.
            return await self._links[alone].request(method, path, params, json)
        return await self._everywhere(route, method, path, params, json)

    async def _on_new_node(self, route: Route, method, path, params, json) -> Any:
        name = self.node_for_new_call()
        if name is None:
            raise AriUnavailable(f"{method} {path}: no Asterisk node is up with room")
        if route.creates is not None:
            self._map.place(route.creates, name)  # before: its first event may beat the answer
        try:
            made = await self._links[name].request(method, path, params, json)
        except AriError:
            if route.creates is not None:
                self._map.forget(route.creates)  # refused: nothing was made
            raise
        if isinstance(made, dict) and "id" in made and route.creates is None:
            kind = "bridge" if path.startswith("/bridges") else "channel"
            self._map.place((kind, str(made["id"])), name)
        return made

    async def _at_owner(self, route: Route, method, path, params, json) -> Any:
        assert route.owner is not None
        known = self._map.node_of(route.owner)
        names = [known] if known in self._links else [link.name for link in self._heard_first()]
        failure: Exception | None = None
        for name in names:
            try:
                answer = await self._links[name].request(method, path, params, json)
            except AriError as error:
                # Not on this node (a subscription's event source says so with 422): the next.
                if known is not None or error.status not in _NOT_HERE:
                    raise
                failure = failure if isinstance(failure, AriUnavailable) else error
                continue
            except AriUnavailable as error:
                failure = error  # it may be there: "gone" cannot be said
                continue
            if known is None:
                self._map.place(route.owner, name)
            if route.creates is not None:
                self._map.place(route.creates, name)
            return answer
        assert failure is not None
        raise failure

    async def _everywhere(self, route: Route, method, path, params, json) -> Any:
        """Every node heard: writes (a node down now gets them from its reconnect callbacks),
        or lists (a node down has nothing to show). Every node when none is heard (a client
        without events, as the checks use)."""
        links = list(self._links.values())
        links = [link for link in links if link.connected.is_set()] or links
        answers, failures = [], []
        for link in links:
            try:
                answers.append(await link.request(method, path, params, json))
            except AriUnavailable as error:
                failures.append(error)
        if not answers:
            raise failures[0]
        for failure in failures:
            log.warning("ari.node_not_answering", error=str(failure))
        if route.kind == "union":
            return [item for answer in answers for item in answer or ()]
        return answers[0]

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

    async def apps_heard(self) -> set[str]:
        """The ARI apps connected to the nodes this client hears (other engines' among them):
        a channel of these nodes can be moved into any of them."""
        names: set[str] = set()
        for link in self._links.values():
            if link.connected.is_set():
                apps = await link.request("GET", "/applications", None, None)
                names |= {str(app.get("name")) for app in apps or () if isinstance(app, dict)}
        return names

    async def app_beside(self, app: str, channel_id: str) -> bool:
        """Whether ARI app `app` is known to the node carrying this channel: a channel moved to
        an app its node does not have leaves Stasis and is hung up."""
        path = f"/applications/{app}"
        node = self.node_of_channel(channel_id)
        try:
            if node in self._links:
                refuse_unsafe_request("GET", path, None, None)
                await self._links[node].request("GET", path, None, None)
            else:
                await self._request("GET", path)
        except AriError as error:
            if error.status == 404:
                return False
            raise
        return True

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
