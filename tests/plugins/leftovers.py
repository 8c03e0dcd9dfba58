"""Every integration and security test starts with the shared world at rest.

The session's engine and its two Asterisks are shared by every test. Before each test,
`at_rest` looks at whichever of them is already up (it starts nothing): every agent logged out,
no campaign running or paused, no channel and no bridge on either Asterisk. What it finds
otherwise was left by an earlier test: it is named in a LeftBehind warning (in the warnings
summary, and in the report of the test it was found before) and in a log line, then cleared,
so a leak shows against the test that made it and never fails the tests after it. A world that
cannot be brought to rest fails the test's set-up, naming what stays."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import pytest
import structlog

from pbx_engine.ari.errors import AriError, AriUnavailable
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import AsteriskSandbox, PstnSandbox, Telephony
from pbx_engine.lab.sandbox.leftovers import (
    Leftovers,
    SeenBridge,
    SeenChannel,
    Sighting,
    leftovers,
)
from tests.waiting import eventually

log = structlog.get_logger(__name__)

SHARED_ENGINE = pytest.StashKey[Engine]()
SHARED_TELEPHONY = pytest.StashKey[Telephony]()
_LAST_TEST = pytest.StashKey[str]()
_FOUND = pytest.StashKey[str]()


class LeftBehind(UserWarning):
    """An earlier test left the shared engine or Asterisks busy; it was cleared."""


@contextlib.contextmanager
def shared(request: pytest.FixtureRequest, key: pytest.StashKey, value: object) -> Iterator[None]:
    """Make a session fixture's value known to `at_rest` while it lives."""
    request.session.stash[key] = value
    try:
        yield
    finally:
        del request.session.stash[key]


def _asterisks(telephony: Telephony | None) -> list[AsteriskSandbox]:
    # An Asterisk a test stopped (and its own fixture will restart) is not looked at.
    pair = [telephony.engine, telephony.pstn] if telephony else []
    return [sandbox for sandbox in pair if sandbox.running]


async def look(engine: Engine | None, telephony: Telephony | None) -> Sighting:
    channels: dict[str, list[SeenChannel]] = {}
    bridges: dict[str, list[SeenBridge]] = {}
    for sandbox in _asterisks(telephony):
        channels[sandbox.profile] = [SeenChannel.from_ari(c) for c in await sandbox.channels()]
        # The PSTN's bridges are its dialplan's (Dial, ConfBridge): they go with their channels,
        # and its ARI cannot list them.
        if not isinstance(sandbox, PstnSandbox):
            bridges[sandbox.profile] = [SeenBridge.from_ari(b) for b in await sandbox.bridges()]
    if engine is None:
        return Sighting(channels=channels, bridges=bridges)
    return Sighting(
        agents={agent.login: agent.state.value for agent in engine.agents.all()},
        campaigns={name: runner.state.value for name, runner in engine.campaigns.items()},
        channels=channels,
        bridges=bridges,
    )


async def clear(engine: Engine | None, telephony: Telephony | None, found: Leftovers) -> None:
    """Campaigns first (they would place new calls), then agents (the engine hangs up their
    legs), then whatever is still up on each Asterisk, over its own ARI."""
    if engine is not None:
        for name in found.campaigns:
            engine.campaigns[name].stop()
        for login in found.agents:
            try:
                await engine.agents.logout(login)
            except (AriError, AriUnavailable) as error:
                # The state is logged out already; the leg goes with the channels below.
                log.warning("tests.agent_leg_not_hung_up", agent=login, error=str(error))
    sandboxes = {sandbox.profile: sandbox for sandbox in _asterisks(telephony)}
    for profile, channels in found.channels.items():
        for channel in channels:
            await sandboxes[profile].hangup(channel.id)
    for profile, bridges in found.bridges.items():
        for bridge in bridges:
            await sandboxes[profile].destroy_bridge(bridge.id)


async def bring_to_rest(
    engine: Engine | None, telephony: Telephony | None, found: Leftovers
) -> None:
    """Clear what was found until nothing is (a hang-up can move an agent to wrap-up)."""
    still = found

    async def cleared() -> bool:
        nonlocal still
        await clear(engine, telephony, still)
        still = leftovers(await look(engine, telephony))
        return not still

    try:
        await eventually(cleared, timeout=15, interval=0.2, what="the shared world to clear")
    except AssertionError:
        raise AssertionError(f"still up after clearing: {'; '.join(still.lines())}") from None


async def settled(
    engine: Engine | None, telephony: Telephony | None, grace: float = 1.0
) -> Leftovers:
    """What is still up once what was going away had `grace` seconds to go: Asterisk lists a
    bridge destroyed while its channels hang up, or a channel hung up, for a moment after the
    request that ended it returned."""
    found = leftovers(await look(engine, telephony))

    async def gone() -> bool:
        nonlocal found
        found = leftovers(await look(engine, telephony))
        return not found

    if found:
        with contextlib.suppress(AssertionError):  # what stays is what was left behind
            await eventually(gone, timeout=grace, interval=0.1, what="what was going to go")
    return found


@pytest.fixture
async def at_rest(request: pytest.FixtureRequest) -> None:
    session = request.session.stash
    engine, telephony = session.get(SHARED_ENGINE, None), session.get(SHARED_TELEPHONY, None)
    left_by = session.get(_LAST_TEST, "an earlier test")
    session[_LAST_TEST] = request.node.nodeid
    if engine is None and telephony is None:
        return
    found = await settled(engine, telephony)
    if not found:
        return
    lines = found.lines()
    log.warning("tests.left_behind", left_by=left_by, before=request.node.nodeid, found=lines)
    request.node.stash[_FOUND] = f"left by {left_by}, cleared:\n" + "\n".join(lines)
    warnings.warn(LeftBehind(f"{left_by} left behind: {'; '.join(lines)}"), stacklevel=1)

    await bring_to_rest(engine, telephony, found)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.when == "setup" and _FOUND in item.stash:
        report.sections.append(("left behind by an earlier test", item.stash[_FOUND]))
