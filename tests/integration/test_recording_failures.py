"""Recordings that fail on the real PBX: Asterisk without its recordings folder (a deploy that
never ran `asterisk render`, a volume not mounted) answers every recording with a 500 and the
calls go on unrecorded. The engine must say so: on the call's record, on the agent's desk,
in the counter, in `/ready` once every recent call failed, and at the start-up check.

Each test takes the folder away and puts it back however it ends, then checks it once more,
so later tests start from an engine that records and is ready."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from structlog.testing import capture_logs

from pbx_engine.agents.states import AgentState, AgentStatus
from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import parse_config
from pbx_engine.dialer.service import CallRequest, RecordingsFailing
from pbx_engine.engine import Engine, build_engine
from pbx_engine.lab.sandbox.asterisk import PstnBehaviour, Telephony
from pbx_engine.lab.sandbox.sipp import SippPhone
from pbx_engine.recording import RecordingMode, RecordingPolicy
from pbx_engine.recording.health import FOLDER_PROBLEM, FailureReason
from tests.integration.test_desktop import (  # the desk tests' browser and sign-in
    _anna_and_her_supervisor,
    _page,
    _sign_in,
    browser,  # noqa: F401 (a fixture)
)
from tests.waiting import eventually

FAILED = "pbx_engine_recordings_failed_total"


@pytest.fixture
async def recordings_folder_gone(
    connected_engine: Engine, telephony: Telephony
) -> AsyncIterator[Path]:
    """The engine's Asterisk without its ARI recordings folder (moved aside, then back)."""
    folder = telephony.engine.ari_recordings_dir
    aside = folder.with_name("recording.aside")
    if aside.exists():
        shutil.rmtree(aside)
    folder.rename(aside)
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder)
        aside.rename(folder)
        # Ready again for the tests after: the check passes and clears the failures.
        assert await connected_engine.check_recording_folder() is None
        assert connected_engine.recorder.health.problem(datetime.now(UTC)) is None


def failed_count(engine: Engine, reason: str = "not_writable", campaign: str = "(none)") -> float:
    labels = {"campaign": campaign, "reason": reason}
    return engine.metrics.registry.get_sample_value(FAILED, labels) or 0.0


async def unrecorded_call(engine: Engine, desk) -> str:
    """One call put through to anna, recorded mixed, whose recording fails; hung up once the
    desk has been told. Returns its channel id."""
    await eventually(
        lambda: _is_ready(engine), timeout=10, what="anna to be ready for the next call"
    )
    await engine.agents.reserve()
    call = engine.dialer.place_call(
        CallRequest(
            number=PstnBehaviour.TALK.number(),
            agent="anna",
            # Not required: the call goes through unrecorded, as this test wants to see.
            recording=RecordingPolicy(RecordingMode.MIXED, retention_days=30, required=False),
        )
    )

    async def told():
        while desk.pending():
            notice = await desk.get()
            if notice.kind == "recording" and notice.data["channel_id"] == call.channel_id:
                return notice.data
        return None

    shown = await eventually(told, timeout=20, what="the desk to be told of the recording")
    assert shown == {
        "channel_id": call.channel_id,
        "state": "not_recording",
        "reason": FailureReason.NOT_WRITABLE.text,
    }
    # While the call is up, a desk that connects now (or reconnects) sees it in its snapshot.
    anna = await engine.storage.agents.get_agent("anna")
    snapshot = await engine.feed.snapshot(anna)
    if snapshot["screen_pop"] is not None:
        assert snapshot["screen_pop"]["recording"]["state"] == "not_recording"
    await engine.ari.hangup(call.channel_id)
    await asyncio.wait_for(call.task, timeout=10)
    return call.channel_id


async def nothing_left(telephony: Telephony) -> None:
    """The check leaves nothing behind on Asterisk: no bridge, no recorder channel (the
    recorder channel may take a moment to go once its bridge is destroyed)."""

    async def empty() -> bool:
        return not await telephony.engine.bridges() and not await telephony.engine.channels()

    await eventually(empty, timeout=2, what="the check's bridge and channel to go")


async def _is_ready(engine: Engine) -> bool:
    status = engine.agents.status("anna")
    return status is not None and status.state is AgentState.READY


async def test_given_asterisk_cannot_write_when_calls_are_recorded_then_everyone_is_told(
    connected_engine: Engine, ready_agent: AgentStatus, api: str, recordings_folder_gone: Path
):
    engine = connected_engine
    before = failed_count(engine)
    token = await engine.storage.issue_agent_token("anna")
    headers = {"Authorization": f"Bearer {token}"}
    with engine.hub.subscribe("anna", supervisor=False) as desk:
        await _three_unrecorded_calls(engine, desk, api, headers, before, recordings_folder_gone)


async def _three_unrecorded_calls(engine, desk, api, headers, before, folder) -> None:
    async with aiohttp.ClientSession(headers=headers) as http:
        first = await unrecorded_call(engine, desk)
        assert failed_count(engine) == before + 1
        async with http.get(f"{api}/attempts/{first}/recordings") as response:
            assert response.status == 200
            body = await response.json()
        assert body["recordings"] == []
        [failure] = body["failures"]
        assert (failure["leg"], failure["reason"]) == ("mixed", "not_writable")
        assert failure["text"] == FailureReason.NOT_WRITABLE.text
        async with http.get(f"{api}/ready") as response:
            assert response.status == 200  # one failure is no pattern yet

        for _ in range(2):
            await unrecorded_call(engine, desk)
        assert failed_count(engine) == before + 3
        async with http.get(f"{api}/ready") as response:
            assert response.status == 503
            ready = await response.json()
        assert ready["not_ready"] == ["recording"]
        assert ready["checks"]["recording"] == "the last 3 recorded calls were not recorded"
        assert str(folder) not in str(ready)  # the probe names no path

        # A call that must be recorded is not placed now (a campaign's, by default).
        with pytest.raises(RecordingsFailing):
            engine.dialer.place_call(
                CallRequest(
                    number=PstnBehaviour.TALK.number(),
                    recording=RecordingPolicy(RecordingMode.MIXED, retention_days=30),
                )
            )

        # The wallboard's count: every unrecorded call of the last hour.
        supervisor_view = await engine.feed.recording_failures()
        assert supervisor_view["calls"] >= 3


async def test_given_asterisk_cannot_write_when_the_folder_is_checked_then_one_line_names_it(
    connected_engine: Engine, telephony: Telephony, recordings_folder_gone: Path
):
    engine = connected_engine
    with capture_logs() as logs:
        started = time.monotonic()
        problem = await engine.check_recording_folder()
        took = time.monotonic() - started
    assert problem == FOLDER_PROBLEM
    assert took < 1.0
    [line] = [entry for entry in logs if entry["event"] == "recording.cannot_record"]
    assert line["log_level"] == "error"
    assert line["folder"].endswith("spool/recording") and "render" in line["fix"]
    readiness = await engine.readiness()
    assert readiness.problems["recording"] == FOLDER_PROBLEM
    await nothing_left(telephony)


async def test_given_asterisk_can_write_when_the_folder_is_checked_then_quick_and_nothing_left(
    connected_engine: Engine, telephony: Telephony
):
    engine = connected_engine
    started = time.monotonic()
    assert await engine.check_recording_folder() is None
    assert time.monotonic() - started < 1.0
    assert (await engine.readiness()).problems["recording"] is None
    await nothing_left(telephony)
    assert list(telephony.engine.ari_recordings_dir.glob("recording-check-*")) == []


async def test_given_asterisk_cannot_write_when_an_engine_that_records_starts_then_up_but_unready(
    telephony: Telephony, database_dsn: str, recordings_folder_gone: Path
):
    """An engine of its own (its own Stasis app on the shared PBX) that records inbound calls:
    it starts, says once what is wrong and where, and is not ready."""
    pbx = telephony.engine
    config = parse_config(
        {
            "ari": {
                "url": pbx.ari_url,
                "username": pbx.ari_username,
                "password": pbx.ari_password,
                "app": "pbx-engine-recording-check",
            },
            "database": {"dsn": database_dsn, "allow_superuser": True},
            "inbound": {"recording": "mixed"},
            "asterisk": {"run_dir": str(pbx.run_dir)},
            "shutdown_grace": 1,
        },
        "recording-check-test",
        environ={},
    )
    with capture_logs() as logs:
        async with build_engine(config) as engine:
            readiness = await engine.readiness()
    lines = [entry for entry in logs if entry["event"] == "recording.cannot_record"]
    assert [line["folder"] for line in lines] == [str(recordings_folder_gone)]
    assert readiness.problems["recording"] == FOLDER_PROBLEM
    assert not readiness.ready
    await nothing_left(telephony)


async def test_given_asterisk_cannot_write_when_a_recorded_campaign_call_is_put_through_then_desk_and_wallboard_say_so(  # noqa: E501
    api: str,
    connected_engine: Engine,
    agent_phone: SippPhone,
    browser: Browser,  # noqa: F811 (the fixture imported above)
    recordings_folder_gone: Path,
):
    """In a real browser: the agent's desk says "Not recording" and why, with no pause button
    to press; the wallboard counts the unrecorded call and marks the agent's row."""
    engine = connected_engine
    storage = engine.storage
    await _anna_and_her_supervisor(storage)
    runner = await engine.add_campaign(
        CampaignConfig(
            name="unrecorded",
            dial_mode="progressive",
            compliance="plain",
            agents=["anna"],
            # Dials on unrecorded (the default would wait for recordings to work again).
            recording={"mode": "mixed", "retention_days": 7, "required": False},
        )
    )
    await storage.cases.upsert_case(
        creditor="Acme Bank",
        reference="UNREC-1",
        debtor_name="Nora Quiet",
        amount_owed=Decimal("99.00"),
        currency="USD",
        numbers=[(PstnBehaviour.TALK.number("+120255507"), "mobile")],
        campaign_id=runner.campaign_id,
    )
    errors: list[str] = []
    board = await _page(browser, errors)
    await _sign_in(board, api, "boss", "/wallboard/")
    desk = await _page(browser, errors)
    await _sign_in(desk, api, "anna", "/desk/")
    await desk.click("#phone-login")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "ready", timeout=15000)
    card = board.locator("#campaign-unrecorded")
    await card.locator("button", has_text="start").click()

    pop = desk.locator("#screen-pop")
    await expect(pop).to_have_attribute("data-channel-id", re.compile(".+"), timeout=30000)
    channel_id = await pop.get_attribute("data-channel-id")
    shown = desk.locator("#rec-state")
    await expect(shown).to_have_attribute("data-recording", "not_recording", timeout=10000)
    await expect(shown).to_have_text(f"Not recording: {FailureReason.NOT_WRITABLE.text}")
    await expect(desk.locator("#rec-pause")).to_be_hidden()
    await expect(desk.locator("#rec-resume")).to_be_hidden()

    failures = board.locator("#recording-failures")
    await expect(failures).to_be_visible(timeout=10000)
    await expect(failures).to_have_attribute("data-calls", re.compile("^[1-9][0-9]*$"))
    await expect(failures).to_contain_text("unrecorded")
    await expect(failures).to_contain_text("unrecorded: 1")  # by campaign
    await expect(board.locator("#agent-anna")).to_contain_text("not recording")
    assert failed_count(engine, campaign="unrecorded") == 1

    await card.locator("button", has_text="stop").click()
    await engine.ari.hangup(channel_id)
    await expect(desk.locator("#no-call")).to_contain_text("Call ended", timeout=10000)
    await desk.click("#phone-logout")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "logged_out")
    assert errors == []
