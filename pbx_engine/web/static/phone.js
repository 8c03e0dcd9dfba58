// The desk's own phone: a WebRTC softphone (JsSIP, served by the engine) that registers through
// the engine's /phone/sip websocket with a password the engine makes for this desk, and answers
// the calls the engine rings it with (the agent's shift leg, or each call when he is rung per
// call). Mute, hold, volume and a microphone check; nothing to type.
import { api } from "/static/common.js";
import { MEDIA, answer, peerConfig, register } from "/static/sipphone.js";

// What the phone is doing, for the desk to show (and for tests to read).
export const phone = {
  state: "off",  // off, starting, registered, in_call, failed
  why: "",
  session: null,
  remoteStream: null,
  registeredAt: null,
  setupMs: [],  // each call's audio path set-up: rung to media connected, in milliseconds
};
window.deskPhone = phone;

let ua = null;
let pcConfig = {};
let listener = () => {};

function tell(state, why = "") {
  phone.state = state;
  phone.why = why;
  listener(phone);
}

export function onPhoneChange(callback) { listener = callback; }

// Asks the engine for this desk's phone and registers it; resolves once registered.
export async function startPhone() {
  if (ua) return;
  tell("starting");
  try {
    const issued = await api("POST", "/agents/me/browser-phone");
    pcConfig = peerConfig(issued);
    ua = await register(issued, take, (up) => {
      if (phone.state === "off" || phone.state === "starting") return;
      if (!up) tell("failed", "connection to the engine lost; reconnecting");
      else tell(phone.session ? "in_call" : "registered");
    });
  } catch (error) {
    tell("failed", error.message);
    throw error;
  }
  phone.registeredAt = Date.now();
  tell("registered");
}

export async function stopPhone() {
  const running = ua;
  ua = null;
  if (running) {
    // Unregistered first (a second at most): taken out of Asterisk before that, the phone's
    // goodbye would be refused as from an unknown endpoint.
    await new Promise((resolve) => {
      running.once("unregistered", resolve);
      setTimeout(resolve, 1000);
      running.stop();
    });
  }
  tell("off");
  await api("DELETE", "/agents/me/browser-phone");
}

// The engine rings this phone only with the agent's own calls: one at a time, answered at once.
function take(session) {
  if (phone.session && !phone.session.isEnded()) {
    session.terminate({ status_code: 486 });
    return;
  }
  phone.session = session;
  answer(session, document.getElementById("phone-audio"), pcConfig, {
    stream: (stream) => { phone.remoteStream = stream; },
    media: (ms) => phone.setupMs.push(Math.round(ms)),
    confirmed: () => tell("in_call"),
    ended: () => {
      if (phone.session === session) { phone.session = null; phone.remoteStream = null; }
      if (phone.state === "in_call") tell("registered");
    },
  });
}

export function setMuted(muted) {
  if (!phone.session) return;
  if (muted) phone.session.mute({ audio: true }); else phone.session.unmute({ audio: true });
}

export function setHeld(held) {
  if (!phone.session) return;
  if (held) phone.session.hold(); else phone.session.unhold();
}

export function setVolume(volume) {
  document.getElementById("phone-audio").volume = volume;
}

// The microphone's level, 0..1, every 100 ms for three seconds: the agent sees it move when he
// speaks (and the desk says so when it does not).
export async function checkMicrophone(onLevel) {
  const stream = await navigator.mediaDevices.getUserMedia(MEDIA);
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  let loudest = 0;
  for (let i = 0; i < 30; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    analyser.getFloatTimeDomainData(samples);
    const rms = Math.sqrt(samples.reduce((sum, x) => sum + x * x, 0) / samples.length);
    loudest = Math.max(loudest, rms);
    onLevel(Math.min(1, rms * 4));
  }
  stream.getTracks().forEach((track) => track.stop());
  await context.close();
  return loudest;
}
