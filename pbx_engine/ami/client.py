"""A reconnecting AMI connection (panoramisk) and the queries the engine makes through it.

panoramisk reconnects by itself (every `reconnect_timeout` seconds) but re-sends actions that had
no answer when the link dropped, so only idempotent queries go through here: calls are placed
through ARI, never with an AMI Originate that a reconnect could send twice.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

import structlog
from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.message import Message

from pbx_engine.config import AmiConfig
from pbx_engine.text import control_character_problem

log = structlog.get_logger(__name__)


class AmiError(Exception):
    pass


class AmiUnavailable(AmiError):
    """No AMI login at start; the message is one line naming the cause and the fix."""


def login_failure(host: str, port: int, reachable: str | None) -> AmiUnavailable:
    """Why there was no login: `reachable` is None when a TCP connection to the port opened
    (then Asterisk refused the login), else why it did not."""
    if reachable is None:
        return AmiUnavailable(
            f"AMI at {host}:{port} refused the login: check [ami] username and secret (they "
            "must match manager.conf; PBX_ENGINE_AMI_SECRET)"
        )
    return AmiUnavailable(
        f"cannot reach AMI at {host}:{port} ({reachable}): is Asterisk running with "
        "manager.conf enabled on that port? check [ami] host and port"
    )


async def _tcp_failure(host: str, port: int) -> str | None:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    except OSError as error:
        return os.strerror(error.errno) if error.errno else str(error)
    except TimeoutError:
        return "no answer within 5 s"
    writer.close()
    return None


async def check_login(config: AmiConfig, timeout: float) -> None:
    """Log in once and off again, as a check before starting: AmiUnavailable naming the cause
    and the fix when that fails. Not through `AmiClient`: a check needs no reconnecting link
    and learns of a refused login at once instead of waiting for one that never comes."""
    host, port = config.host, config.port
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:  # before OSError, of which it is a kind
        raise login_failure(host, port, f"no answer within {timeout:g} s") from None
    except OSError as error:
        cause = os.strerror(error.errno) if error.errno else str(error)
        raise login_failure(host, port, cause) from None
    try:
        async with asyncio.timeout(timeout):
            await reader.readline()  # the greeting: "Asterisk Call Manager/x.y.z"
            secret = config.secret.get_secret_value()
            login = {"Action": "Login", "Username": config.username, "Secret": secret}
            reply = await _exchange(reader, writer, {**login, "Events": "off"})
            if not reply.success:
                raise login_failure(host, port, None)
            await _exchange(reader, writer, {"Action": "Logoff"})
    except TimeoutError:  # before OSError, of which it is a kind
        cause = f"no AMI greeting or answer within {timeout:g} s"
        raise login_failure(host, port, cause) from None
    except (OSError, asyncio.IncompleteReadError):
        raise login_failure(host, port, "closed before AMI answered") from None
    finally:
        writer.close()


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fields: dict[str, str]
) -> Message:
    """Send one action, read the next message (panoramisk's encoding and parsing)."""
    refuse_unsafe_action(fields)
    writer.write(str(Action(fields)).encode())
    await writer.drain()
    return Message.from_line((await reader.readuntil(b"\r\n\r\n")).decode().strip())


class UnsafeAmiValue(AmiError):
    """An action field holding a control character: refused, nothing was sent."""


def refuse_unsafe_action(action: dict[str, str]) -> None:
    """UnsafeAmiValue when a field's name or value holds a control character. An AMI action is
    `Name: value` lines ended by a blank line: a line break in a value adds fields of the
    sender's choosing, or a whole second action (an Originate, say)."""
    for name, value in action.items():
        for where, text in ((f"the name of field {name!r}", str(name)), (name, str(value))):
            problem = control_character_problem(text)
            if problem is not None:
                raise UnsafeAmiValue(
                    f"AMI {action.get('Action', 'action')!r} refused: {where!r} holds {problem}"
                )


# DeviceStateList's tokens, in the words PJSIP and the CLI use for them.
_DEVICE_STATES = {
    "NOT_INUSE": "Not in use",
    "INUSE": "In use",
    "BUSY": "Busy",
    "INVALID": "Invalid",
    "UNAVAILABLE": "Unavailable",
    "RINGING": "Ringing",
    "RINGINUSE": "Ring+Inuse",
    "ONHOLD": "On Hold",
    "UNKNOWN": "Unknown",
}


@dataclass(frozen=True)
class EndpointStatus:
    """A PJSIP endpoint's device state as AMI reports it: is the phone (or trunk) there to take
    a call?"""

    name: str
    device_state: str  # "Not in use", "In use", "Ringing", "Unavailable", "Invalid", ...

    @property
    def reachable(self) -> bool:
        return self.device_state not in ("Unavailable", "Invalid", "Unknown")


class AmiClient:
    """`async with AmiClient(config) as ami:` logs in, and keeps the link up until left."""

    def __init__(self, config: AmiConfig, *, connect_timeout: float = 10.0) -> None:
        self._config = config
        self._connect_timeout = connect_timeout
        self._logged_in = asyncio.Event()
        self._manager: Manager | None = None

    async def __aenter__(self) -> AmiClient:
        self._manager = Manager(
            loop=asyncio.get_running_loop(),
            host=self._config.host,
            port=self._config.port,
            username=self._config.username,
            secret=self._config.secret.get_secret_value(),
            events="off",  # the engine takes its events from ARI; AMI is for queries
            ping_delay=10,
            reconnect_timeout=2,
            on_login=self._on_login,
            on_disconnect=self._on_disconnect,
        )
        self._manager.connect()
        try:
            await asyncio.wait_for(self._logged_in.wait(), self._connect_timeout)
        except TimeoutError:
            self._manager.close()
            host, port = self._config.host, self._config.port
            raise login_failure(host, port, await _tcp_failure(host, port)) from None
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    @property
    def logged_in(self) -> bool:
        return self._logged_in.is_set()

    def _on_login(self, manager: Manager) -> None:
        log.info("ami.logged_in", host=self._config.host, port=self._config.port)
        self._logged_in.set()

    def _on_disconnect(self, manager: Manager, exc: object) -> None:
        log.warning("ami.disconnected", reason=str(exc))
        self._logged_in.clear()

    async def _action(self, action: dict[str, str], *, timeout: float = 5.0) -> list:
        refuse_unsafe_action(action)
        if self._manager is None:
            raise AmiError("AMI client is not connected")
        await asyncio.wait_for(self._logged_in.wait(), timeout)
        result = await asyncio.wait_for(self._manager.send_action(dict(action)), timeout)
        messages = result if isinstance(result, list) else [result]
        first = messages[0]
        if first.get("Response") == "Error":
            raise AmiError(f"{action['Action']}: {first.get('Message', 'error')}")
        return messages

    async def endpoints(self) -> list[EndpointStatus]:
        """Every PJSIP endpoint with its device state (an unregistered softphone: Unavailable).

        DeviceStateList needs the AMI class "reporting" only; PJSIPShowEndpoints would need
        "system", and Asterisk lets any action share one class with the user: "system" also
        opens GetConfig (every config file, secrets and all), ModuleLoad and Reload.
        """
        messages = await self._action({"Action": "DeviceStateList"})
        statuses = []
        for message in messages:
            device = message.get("Device", "")
            if message.get("Event") != "DeviceStateChange" or not device.startswith("PJSIP/"):
                continue
            state = message.get("State", "UNKNOWN")
            statuses.append(
                EndpointStatus(
                    name=device.removeprefix("PJSIP/"),
                    device_state=_DEVICE_STATES.get(state, state.title()),
                )
            )
        return statuses

    async def endpoint(self, name: str) -> EndpointStatus | None:
        for status in await self.endpoints():
            if status.name == name:
                return status
        return None
