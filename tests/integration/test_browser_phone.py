"""The desk's browser phone in a real Chromium whose microphone is a WAV file (a 1000 Hz tone):
the agent has no SIP softphone, logs his browser in from the desk, and takes three predictive
calls in a row. Each call's audio is checked both ways on real RTP through Asterisk: the
debtor's tone (a different one per call) is measured in the page with WebAudio, and the
browser's tone is found in what the phone network recorded of the call.

Measured and printed: "Log in browser phone" to ready, and per call the time from the bridge
on record to the debtor's tone in the page."""

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog
from playwright.async_api import Browser, Page, async_playwright, expect

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import PstnSandbox
from pbx_engine.lab.sandbox.audio import microphone_tone, tone_levels
from pbx_engine.signin.passwords import hash_password
from tests.integration.test_desktop import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.waiting import eventually

log = structlog.get_logger(__name__)

MICROPHONE_HZ = 1000
# The phone network answers +1 202 557 XXXX with a tone of XXXX Hz (dialplans/pstn.conf), and
# records what it hears: a tone per call tells this call's audio from the last one's.
DEBTOR_TONES = (440, 520, 600)
LOUD = 800  # a tone's level (0..32768) in a 100 ms window when it is there (~1/4 full scale)

# Listens to the phone's remote stream with WebAudio until `hz` is the loudest part of it
# (Goertzel against the window's energy); resolves with the milliseconds it took, or -1.
HEAR_TONE = """async ([hz, timeoutMs]) => {
  const started = performance.now();
  const context = new AudioContext();
  await context.resume();
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(window.deskPhone.remoteStream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const k = 2 * Math.cos(2 * Math.PI * hz / context.sampleRate);
  try {
    while (performance.now() - started < timeoutMs) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      analyser.getFloatTimeDomainData(samples);
      let s1 = 0, s2 = 0, energy = 0;
      for (const x of samples) { const s0 = x + k * s1 - s2; s2 = s1; s1 = s0; energy += x * x; }
      const power = s1 * s1 + s2 * s2 - k * s1 * s2;
      const share = energy > 0 ? power / (energy * samples.length / 2) : 0;
      if (Math.sqrt(energy / samples.length) > 0.01 && share > 0.5) {
        return performance.now() - started;
      }
    }
    return -1;
  } finally {
    await context.close();
  }
}"""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    microphone = await microphone_tone(MICROPHONE_HZ)
    fake_media = [
        "--use-fake-ui-for-media-stream",  # the microphone is allowed without asking
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_media
        )
        yield launched
        await launched.close()


async def _desk(browser: Browser, api: str, errors: list[str], width: int = 1360) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{api}/signin")
    await page.fill("#login", "wanda")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{api}/desk/")
    await expect(page.locator("#live.on")).to_be_visible()
    return page


def _heard_by_network(pstn: PstnSandbox, number: str) -> Path | None:
    files = sorted(pstn.recordings_dir.glob(f"heard-{number}-*.wav"))
    return files[-1] if files else None


def _share_with_microphone_tone(recording: Path) -> float:
    """The share of 100 ms windows the browser's tone is loud in. The file holds what reached
    the debtor from the moment he was put through (no frames before) until the hang-up."""
    levels = tone_levels(recording, MICROPHONE_HZ)
    assert len(levels) >= 5, f"{recording.name}: {len(levels) / 10} s"
    return sum(level > LOUD for level in levels) / len(levels)


async def test_given_a_desk_with_no_softphone_when_it_logs_its_browser_in_then_three_calls_carry_audio_both_ways(  # noqa: E501
    api: str, connected_engine: Engine, pstn_asterisk: PstnSandbox, browser: Browser
):
    engine, storage = connected_engine, connected_engine.storage
    await storage.agents.upsert_agent("wanda", "Wanda Web")  # no sip_endpoint: no softphone
    await storage.sessions.set_password("wanda", hash_password(PASSWORD))
    runner = await engine.add_campaign(
        CampaignConfig(
            name="browser-phone",
            dial_mode="predictive",
            compliance="plain",
            agents=["wanda"],
            max_lines=1,
            pacing={"policy": "ratio", "dial_ratio": 1.0},
        )
    )
    numbers = [f"+1202557{hz:04d}" for hz in DEBTOR_TONES]
    for i, number in enumerate(numbers):
        await storage.cases.upsert_case(
            creditor="Acme",
            reference=f"WEB-{i}",
            debtor_name=f"Debtor {i}",
            amount_owed=100,
            currency="USD",
            numbers=[(number, "mobile")],
            campaign_id=runner.campaign_id,
        )
    errors: list[str] = []
    desk = await _desk(browser, api, errors)

    clicked = time.monotonic()
    await desk.click("#browser-login")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "ready", timeout=15000)
    login_to_ready_ms = (time.monotonic() - clicked) * 1000
    await expect(desk.locator("#phone-state")).to_have_attribute("data-state", "in_call")
    leg = engine.agents.status("wanda").channel_id
    shift_leg = await engine.ari.get_channel(leg or "")
    assert shift_leg is not None and shift_leg.name.startswith("PJSIP/web-"), shift_leg

    runner.start()
    tone_after_bridge_ms = []
    done: list[str] = []
    for call in range(1, len(numbers) + 1):
        pop = desk.locator("#screen-pop .dossier")
        await expect(pop).not_to_have_attribute(
            "data-reference", re.compile("|".join(done) or "^$"), timeout=30000
        )
        reference = await pop.get_attribute("data-reference", timeout=30000)
        i = int(reference.removeprefix("WEB-"))
        hz, number = DEBTOR_TONES[i], numbers[i]
        done.append(reference)
        channel_id = await desk.locator("#screen-pop").get_attribute("data-channel-id")
        heard_in_page_ms = await desk.evaluate(HEAR_TONE, [hz, 10000])
        assert heard_in_page_ms >= 0, (
            f"call {call}: the debtor's {hz} Hz tone never reached the page"
        )
        attempt = await storage.attempts.get_attempt(channel_id)
        assert attempt is not None and attempt.bridged_at is not None
        tone_after_bridge_ms.append(
            round(time.time() * 1000 - attempt.bridged_at.timestamp() * 1000)
        )

        await desk.click("#end-call")
        await expect(desk.locator("#no-call")).to_contain_text("Call ended", timeout=10000)
        recording = await eventually(
            lambda number=number: _closed(pstn_asterisk, number),
            timeout=10,
            what=f"the network's recording of call {call}",
        )
        share = _share_with_microphone_tone(recording)
        assert share > 0.8, f"call {call}: the browser's tone in {share:.0%} of {recording.name}"
        await desk.locator("input[name=code][value=right_party]").check()
        await desk.click("#save-disposition")
        await expect(desk.locator("#saved")).to_contain_text("right_party", timeout=5000)
        await desk.click("#ready")
        await expect(desk.locator("#state")).to_have_attribute("data-state", "ready", timeout=5000)

    runner.stop()
    assert sorted(done) == [f"WEB-{i}" for i in range(len(numbers))]
    await desk.click("#phone-logout")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "logged_out")
    await expect(desk.locator("#phone-state")).to_have_attribute("data-state", "off")

    async def withdrawn():
        return engine.browser_phones.endpoint_of("wanda") is None

    await eventually(withdrawn, what="the browser phone taken out of Asterisk")
    assert await engine.ari.get_config_object("res_pjsip", "endpoint", "web-1") is None
    assert errors == []
    measured = {
        "login_to_ready_ms": round(login_to_ready_ms),
        "debtor_tone_in_page_after_bridge_ms": tone_after_bridge_ms,
    }
    log.info("browser_phone.measured", **measured)
    print("measured:", measured)


async def _closed(pstn: PstnSandbox, number: str) -> Path | None:
    """The network's recording of the call to `number`, once Asterisk has closed it."""
    path = _heard_by_network(pstn, number)
    if path is None:
        return None
    with path.open("rb") as wav:
        riff_size = int.from_bytes(wav.read(8)[4:], "little")
    return path if riff_size == path.stat().st_size - 8 else None
