"""The desk's browser phone in a real Chromium whose microphone is a WAV file (a 1000 Hz tone):
the agent has no SIP softphone, logs his browser in from the desk, and takes three predictive
calls in a row. Each call's audio is checked both ways on real RTP through Asterisk: the
debtor's tone (a different one per call) is measured in the page with WebAudio, and the
browser's tone is found in what the phone network recorded of the call.

Measured and printed: "Log in browser phone" to ready, and per call the time from the bridge
on record to the debtor's tone in the page."""

import re
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import structlog
from playwright.async_api import Browser, Page, async_playwright, expect

from pbx_engine.campaigns.config import CampaignConfig
from pbx_engine.config import WebrtcConfig
from pbx_engine.engine import Engine
from pbx_engine.lab.sandbox.asterisk import EngineSandbox, PstnSandbox
from pbx_engine.lab.sandbox.audio import microphone_tone, tone_levels, tone_levels_so_far
from pbx_engine.lab.sandbox.coturn import TurnSandbox
from pbx_engine.signin.passwords import hash_password
from pbx_engine.supervision import SupervisionMode
from tests.integration.browsers import fits_a_phone
from tests.integration.test_desktop import CHROMIUM, CHROMIUM_ARGS, PASSWORD
from tests.waiting import eventually

log = structlog.get_logger(__name__)

MICROPHONE_HZ = 1000
# The phone network answers +1 202 557 XXXX with a tone of XXXX Hz (dialplans/pstn.conf), and
# records what it hears: a tone per call tells this call's audio from the last one's.
DEBTOR_TONES = (440, 520, 600)
ROOM_MEMBER = "+12025571400"  # a room member on the phone network: his tone is 1400 Hz
SUPERVISOR = "+12025571800"  # a supervisor's phone on the network (it plays 1800 Hz)
THIRD_PARTY = "+12025571500"  # a third party on the network (1500 Hz)
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


# The browser leg's own figures, from WebRTC's statistics: the round trip RTCP measured, the
# receiving jitter buffer's delay, the kind of the local candidate in use.
LINK_STATS = """async () => {
  const stats = await window.deskPhone.session.connection.getStats();
  const out = {};
  stats.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
      out.round_trip_ms = s.currentRoundTripTime == null ? null : s.currentRoundTripTime * 1000;
      const local = stats.get(s.localCandidateId);
      out.local_candidate = local ? local.candidateType : null;
    }
    if (s.type === "inbound-rtp" && s.kind === "audio" && s.jitterBufferEmittedCount) {
      out.jitter_buffer_ms = Math.round(1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount);
      out.packets_lost = s.packetsLost;
    }
  });
  return out;
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


async def _desk(browser: Browser, api: str, login: str, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{api}/signin")
    await page.fill("#login", login)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{api}/desk/")
    await expect(page.locator("#live.on")).to_be_visible()
    return page


def _heard_by_network(pstn: PstnSandbox, number: str) -> Path | None:
    # The newest by time: Asterisk's unique ids in the names do not sort as numbers.
    files = list(pstn.recordings_dir.glob(f"heard-{number}-*.wav"))
    return max(files, key=lambda path: path.stat().st_mtime) if files else None


def _share_with_microphone_tone(recording: Path) -> float:
    """The share of 100 ms windows the browser's tone is loud in. The file holds what reached
    the debtor from the moment he was put through (no frames before) until the hang-up."""
    levels = tone_levels(recording, MICROPHONE_HZ)
    assert len(levels) >= 5, f"{recording.name}: {len(levels) / 10} s"
    return sum(level > LOUD for level in levels) / len(levels)


@pytest.mark.parametrize("rung_per_call", [False, True], ids=["shift-leg", "rung-per-call"])
async def test_given_a_desk_with_no_softphone_when_it_logs_its_browser_in_then_three_calls_carry_audio_both_ways(  # noqa: E501
    api: str,
    connected_engine: Engine,
    pstn_asterisk: PstnSandbox,
    browser: Browser,
    rung_per_call: bool,
):
    """With a shift leg the three calls share one WebRTC call; rung per call, each debtor rings
    the browser anew: three WebRTC calls in a row, the case of "no audio after the first"."""
    engine = connected_engine
    engine.agents.ring_per_call = rung_per_call
    login = "wendy" if rung_per_call else "wanda"
    try:
        runner, numbers = await _floor(engine, login, DEBTOR_TONES)
        errors: list[str] = []
        desk = await _desk(browser, api, login, errors)
        login_to_ready_ms = await _log_in_browser_phone(desk, engine, login)
        runner.start()
        calls = await _take_calls(desk, engine, pstn_asterisk, numbers)
        runner.stop()
        setup_ms = await desk.evaluate("window.deskPhone.setupMs")
        assert len(setup_ms) == (3 if rung_per_call else 1)  # a WebRTC call each time it rang
        await _log_out(desk, engine, login)
        assert errors == []
    finally:
        engine.agents.ring_per_call = False
    measured = {
        "login_to_ready_ms": round(login_to_ready_ms),
        "audio_path_setup_ms": setup_ms,
        "calls": calls,
    }
    log.info("browser_phone.measured", rung_per_call=rung_per_call, **measured)
    print("measured:", measured)


async def test_given_relay_only_when_the_desk_takes_a_call_then_its_media_goes_through_coturn(
    api: str, connected_engine: Engine, pstn_asterisk: PstnSandbox, browser: Browser
):
    engine = connected_engine
    async with TurnSandbox() as turn:
        engine.browser_phones.webrtc = turn.webrtc_config(relay_only=True)
        try:
            runner, numbers = await _floor(engine, "tara", (680,))
            errors: list[str] = []
            desk = await _desk(browser, api, "tara", errors)
            await _log_in_browser_phone(desk, engine, "tara")
            runner.start()
            (call,) = await _take_calls(desk, engine, pstn_asterisk, numbers)
            runner.stop()
            await _log_out(desk, engine, "tara")
            assert errors == []
        finally:
            engine.browser_phones.webrtc = WebrtcConfig()
        assert call["local_candidate"] == "relay", call
        assert turn.allocations() >= 1
    print("measured:", call)


async def test_given_a_browser_agent_on_a_recorded_call_then_the_supervisor_a_third_party_and_the_recording_hear_the_browser(  # noqa: E501
    api: str,
    connected_engine: Engine,
    pstn_asterisk: PstnSandbox,
    browser: Browser,
    tmp_path: Path,
):
    """The browser leg is an agent's leg like a softphone's: supervision snoops on it, a third
    party joins its bridge and the recorder hears it the same way. The supervisor and the party
    (rung on the phone network, which records what each hears) hear the browser's microphone,
    and so does the call's recording of the agent's side."""
    engine = connected_engine
    await engine.storage.agents.upsert_agent("sid", "Sid", role="supervisor")
    sid = await engine.storage.agents.get_agent("sid")
    assert sid is not None
    runner, numbers = await _floor(engine, "bella", (760,), recording="separate")
    errors: list[str] = []
    desk = await _desk(browser, api, "bella", errors)
    await _log_in_browser_phone(desk, engine, "bella")
    calls: list[str] = []

    async def hears_the_browser(number: str) -> None:
        async def hears():
            path = _heard_by_network(pstn_asterisk, number)
            levels = tone_levels_so_far(path, MICROPHONE_HZ)[-10:] if path else []
            return len(levels) == 10 and all(level > LOUD for level in levels)

        await eventually(hears, timeout=15, what=f"the browser's tone at {number}'s")

    async def supervisor_and_party_hear_the_browser() -> None:
        calls.append(engine.agents.status("bella").call_id or "")
        await engine.supervision.start(sid, "bella", SupervisionMode.LISTEN, number=SUPERVISOR)
        try:
            await hears_the_browser(SUPERVISOR)
        finally:
            await engine.supervision.stop("sid")
        party = await engine.parties.add_number("bella", THIRD_PARTY)
        try:
            await hears_the_browser(THIRD_PARTY)
        finally:
            await engine.parties.drop("bella", party.id)

    runner.start()
    await _take_calls(
        desk, engine, pstn_asterisk, numbers, during=supervisor_and_party_hear_the_browser
    )
    runner.stop()
    await _log_out(desk, engine, "bella")
    assert errors == []
    attempt = await engine.storage.attempts.get_attempt(calls[0])
    assert attempt is not None

    async def agent_side_recorded():
        rows = await engine.storage.recordings.recordings_of_attempt(attempt.id)
        return next((r for r in rows if r.leg == "agent" and r.ended_at), None)

    row = await eventually(agent_side_recorded, timeout=10, what="the agent side's recording")
    recording = tmp_path / f"{row.name}.wav"
    recording.write_bytes(await engine.ari.get_stored_recording_file(row.name))
    share = _share_with_microphone_tone(recording)
    assert share > 0.8, f"the browser's tone in {share:.0%} of the call's recording"


async def _floor(engine: Engine, login: str, tones: tuple[int, ...], recording: str = "none"):
    """An agent with no softphone, and a predictive campaign of one case per tone (its calls
    recorded as `recording` says)."""
    storage = engine.storage
    await storage.agents.upsert_agent(login, login.title())  # no sip_endpoint: no softphone
    await storage.sessions.set_password(login, hash_password(PASSWORD))
    runner = await engine.add_campaign(
        CampaignConfig(
            name=f"browser-{login}",
            dial_mode="predictive",
            compliance="plain",
            agents=[login],
            max_lines=1,
            pacing={"policy": "ratio", "dial_ratio": 1.0},
            recording={"mode": recording},
        )
    )
    numbers = {f"{login}-{i}": f"+1202557{hz:04d}" for i, hz in enumerate(tones)}
    for reference, number in numbers.items():
        await storage.cases.upsert_case(
            creditor="Acme",
            reference=reference,
            debtor_name=f"Debtor {reference}",
            amount_owed=100,
            currency="USD",
            numbers=[(number, "mobile")],
            campaign_id=runner.campaign_id,
        )
    return runner, numbers


async def _log_in_browser_phone(desk: Page, engine: Engine, login: str) -> float:
    """Milliseconds from the click to READY."""
    clicked = time.monotonic()
    await desk.click("#browser-login")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "ready", timeout=15000)
    took = (time.monotonic() - clicked) * 1000
    if not engine.agents.ring_per_call:
        await expect(desk.locator("#phone-state")).to_have_attribute("data-state", "in_call")
        leg = await engine.ari.get_channel(engine.agents.status(login).channel_id or "")
        assert leg is not None and leg.name.startswith("PJSIP/web-"), leg
    return took


async def _take_calls(
    desk: Page,
    engine: Engine,
    pstn: PstnSandbox,
    numbers: dict[str, str],
    during: Callable[[], Awaitable[None]] | None = None,
) -> list[dict]:
    """Each call as it comes: the debtor's tone heard in the page, the browser's in what the
    network recorded; ended, disposed of, ready again. Returns each call's figures. `during`:
    done on each call once its audio is checked, before it ends."""
    storage, done, figures = engine.storage, [], []
    for call in range(1, len(numbers) + 1):
        pop = desk.locator("#screen-pop .dossier")
        await expect(pop).not_to_have_attribute(
            "data-reference", re.compile("|".join(f"^{r}$" for r in done) or "^$"), timeout=30000
        )
        reference = await pop.get_attribute("data-reference", timeout=30000)
        assert reference in numbers and reference not in done, (reference, done)
        done.append(reference)
        number = numbers[reference]
        hz = int(number[-4:])
        channel_id = await desk.locator("#screen-pop").get_attribute("data-channel-id")
        heard_ms = await desk.evaluate(HEAR_TONE, [hz, 10000])
        assert heard_ms >= 0, f"call {call}: the debtor's {hz} Hz tone never reached the page"
        attempt = await storage.attempts.get_attempt(channel_id)
        assert attempt is not None and attempt.bridged_at is not None
        tone_after_bridge = time.time() * 1000 - attempt.bridged_at.timestamp() * 1000
        link = await desk.evaluate(LINK_STATS)
        if during is not None:
            await during()
        if call == 1:
            await fits_a_phone(desk, "desk-phone.png")
        ended_at = time.time()
        await desk.click("#end-call")
        await expect(desk.locator("#no-call")).to_contain_text("Call ended", timeout=10000)
        recording = await eventually(
            lambda number=number: _closed(pstn, number),
            timeout=10,
            what=f"the network's recording of call {call}",
        )
        share = _share_with_microphone_tone(recording)
        assert share > 0.8, f"call {call}: the browser's tone in {share:.0%} of {recording.name}"
        seconds_heard = len(tone_levels(recording, MICROPHONE_HZ)) / 10
        figures.append(
            {
                "debtor_tone_in_page_after_bridge_ms": round(tone_after_bridge),
                # The network's recording starts with the first frame that reached it.
                "browser_audio_at_network_after_bridge_ms": round(
                    (ended_at - attempt.bridged_at.timestamp() - seconds_heard) * 1000
                ),
                **link,
            }
        )
        await desk.locator("input[name=code][value=right_party]").check()
        await desk.click("#save-disposition")
        await expect(desk.locator("#saved")).to_contain_text("right_party", timeout=5000)
        await desk.click("#ready")
        await expect(desk.locator("#state")).to_have_attribute("data-state", "ready", timeout=5000)
    assert sorted(done) == sorted(numbers)
    return figures


async def _log_out(desk: Page, engine: Engine, login: str) -> None:
    endpoint = engine.browser_phones.endpoint_of(login)
    assert endpoint is not None
    await desk.click("#phone-logout")
    await expect(desk.locator("#state")).to_have_attribute("data-state", "logged_out")
    await expect(desk.locator("#phone-state")).to_have_attribute("data-state", "off")

    async def withdrawn():
        # Forgotten by the engine first, then taken out of Asterisk (three requests).
        return (
            engine.browser_phones.endpoint_of(login) is None
            and await engine.ari.get_config_object("res_pjsip", "endpoint", endpoint) is None
        )

    await eventually(withdrawn, what="the browser phone taken out of Asterisk")
    await desk.context.close()


async def _closed(pstn: PstnSandbox, number: str) -> Path | None:
    """The network's recording of the call to `number`, once Asterisk has closed it."""
    path = _heard_by_network(pstn, number)
    if path is None:
        return None
    with path.open("rb") as wav:
        riff_size = int.from_bytes(wav.read(8)[4:], "little")
    return path if riff_size == path.stat().st_size - 8 else None


async def test_given_an_invitation_link_when_a_guest_joins_from_his_browser_then_the_room_hears_him(  # noqa: E501
    api: str,
    connected_engine: Engine,
    engine_asterisk: EngineSandbox,
    pstn_asterisk: PstnSandbox,
    browser: Browser,
):
    """Asterisk answers this guest with the operator's DTLS certificate ([webrtc]
    dtls_certificate), which the browser sees as the far end's."""
    engine = connected_engine
    certificate, fingerprint = _dtls_certificate(engine_asterisk.run_dir / "webrtc")
    engine.browser_phones.webrtc = WebrtcConfig(dtls_certificate=certificate)
    await engine.storage.agents.upsert_agent("mona", "Mona", role="supervisor")
    headers = {"Authorization": f"Bearer {await engine.storage.issue_agent_token('mona')}"}
    async with aiohttp.ClientSession(headers=headers) as moderator:
        try:
            async with moderator.post(f"{api}/rooms", json={"name": "web-guests"}) as response:
                assert response.status == 201, await response.text()
            # A member on the phone network: he plays his tone and records what he hears.
            async with moderator.post(
                f"{api}/rooms/web-guests/dial", json={"number": ROOM_MEMBER}
            ) as response:
                assert response.status == 201, await response.text()
            await eventually(
                lambda: _members_via(engine, {"dialled"}), timeout=15, what="the member"
            )
            async with moderator.post(
                f"{api}/rooms/web-guests/invitations", json={"valid_seconds": 300, "max_uses": 1}
            ) as response:
                assert response.status == 201, await response.text()
                link = (await response.json())["url"]
            await _guest_joins_and_leaves(engine, browser, link, pstn_asterisk, fingerprint)
        finally:
            engine.browser_phones.webrtc = WebrtcConfig()
            if engine.rooms.room("web-guests"):
                async with moderator.delete(f"{api}/rooms/web-guests") as response:
                    assert response.status == 200


def _dtls_certificate(folder: Path) -> tuple[Path, str]:
    """A certificate and its key in one PEM file Asterisk's user can read, and the SHA-256
    fingerprint a browser will see of it."""
    folder.mkdir(mode=0o755, exist_ok=True)
    key, certificate = folder / "key.pem", folder / "certificate.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=pbx-engine test",
         "-keyout", key, "-out", certificate],
        check=True,
        capture_output=True,
    )  # fmt: skip
    both = folder / "webrtc.pem"
    both.write_bytes(certificate.read_bytes() + key.read_bytes())
    both.chmod(0o644)
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", certificate],
        check=True,
        capture_output=True,
        text=True,
    )
    return both, shown.stdout.strip().split("=", 1)[1].upper()


# The far end's certificate as this page's WebRTC saw it in the DTLS handshake.
REMOTE_FINGERPRINT = """async () => {
  const stats = await window.roomGuest.session.connection.getStats();
  let fingerprint = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.remoteCertificateId) {
      const certificate = stats.get(s.remoteCertificateId);
      fingerprint = certificate ? certificate.fingerprint : null;
    }
  });
  return fingerprint;
}"""


async def _guest_joins_and_leaves(
    engine: Engine, browser: Browser, link: str, pstn: PstnSandbox, fingerprint: str
) -> None:
    errors: list[str] = []
    context = await browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(link)
    await page.click("#join-browser")
    await expect(page.locator("#browser-state")).to_have_attribute(
        "data-state", "in_room", timeout=15000
    )
    await eventually(
        lambda: _members_via(engine, {"dialled", "invitation"}), timeout=10, what="the guest"
    )
    guest = next(m for m in engine.rooms.members("web-guests") if m.via == "invitation")
    assert guest.caller and guest.caller.startswith("browser:guest-")
    # He hears the room (the member's tone), and the room hears him (his microphone's).
    heard_ms = await page.evaluate(HEAR_TONE.replace("deskPhone", "roomGuest"), [1400, 10000])
    assert heard_ms >= 0, "the member's tone never reached the guest's page"
    since = time.time()

    async def member_heard_guest():
        path = _heard_by_network(pstn, ROOM_MEMBER)
        if path is None or path.stat().st_mtime < since:
            return None
        levels = tone_levels_so_far(path, MICROPHONE_HZ)[-10:]
        return len(levels) == 10 and all(level > LOUD for level in levels)

    await eventually(member_heard_guest, timeout=10, what="the guest's tone in the room")
    assert (await page.evaluate(REMOTE_FINGERPRINT) or "").upper() == fingerprint
    await fits_a_phone(page, "join-phone.png")

    await page.click("#leave")
    await expect(page.locator("#browser-state")).to_have_attribute("data-state", "left")
    await eventually(lambda: _members_via(engine, {"dialled"}), timeout=10, what="guest gone")
    endpoint = guest.caller.removeprefix("browser:")

    async def withdrawn():
        await page.close()  # the page's websocket closes: its phone is taken out
        # Forgotten by the engine first, then taken out of Asterisk (three requests).
        return (
            engine.browser_phones.invitation_of(endpoint) is None
            and await engine.ari.get_config_object("res_pjsip", "endpoint", endpoint) is None
        )

    await eventually(withdrawn, timeout=10, what="the guest's phone out of Asterisk")
    # A use of a one-use link: a second browser is refused.
    again = await context.new_page()
    await again.goto(link)
    await expect(again.locator("body")).to_contain_text("used up")
    await context.close()
    assert errors == []


async def _members_via(engine: Engine, vias: set[str]) -> bool:
    return {m.via for m in engine.rooms.members("web-guests")} == vias
