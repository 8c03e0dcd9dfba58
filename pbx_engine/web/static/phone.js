// The desk's own phone: a WebRTC softphone (JsSIP, served by the engine) that registers through
// the engine's /phone/sip websocket with a password the engine makes for this desk, and answers
// the calls the engine rings it with (the agent's shift leg, or each call when he is rung per
// call). Mute, hold, volume and a microphone check; nothing to type.
import { api } from "/static/common.js";

const MEDIA = { audio: true, video: false };

// What the phone is doing, for the desk to show (and for tests to read).
export const phone = {
  state: "off",  // off, starting, registered, in_call, failed
  why: "",
  session: null,
  remoteStream: null,
  registeredAt: null,
  answeredAt: [],
};
window.deskPhone = phone;

let ua = null;
let iceServers = [];
let listener = () => {};

function tell(state, why = "") {
  phone.state = state;
  phone.why = why;
  listener(phone);
}

export function onPhoneChange(callback) { listener = callback; }

function websocketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// Asks the engine for this desk's phone and registers it; resolves once registered.
export async function startPhone() {
  if (ua) return;
  if (!window.JsSIP) throw new Error("the browser phone's library is not installed on the engine");
  tell("starting");
  const issued = await api("POST", "/agents/me/browser-phone");
  iceServers = issued.ice_servers || [];
  ua = new window.JsSIP.UA({
    sockets: [new window.JsSIP.WebSocketInterface(websocketUrl(issued.websocket))],
    uri: `sip:${issued.endpoint}@${location.hostname}`,
    authorization_user: issued.endpoint,
    realm: issued.realm,
    password: issued.password,
    register: true,
    session_timers: false,
    // Asterisk takes a lost websocket's contact away; the engine's page reconnects at once.
    connection_recovery_min_interval: 1,
    connection_recovery_max_interval: 10,
  });
  ua.on("newRTCSession", ({ originator, session }) => originator === "remote" && answer(session));
  const registered = new Promise((resolve, reject) => {
    ua.on("registered", () => { phone.registeredAt = Date.now(); tell("registered"); resolve(); });
    ua.on("registrationFailed", (e) => { tell("failed", `registration failed: ${e.cause}`); reject(new Error(phone.why)); });
  });
  ua.on("disconnected", () => phone.state !== "off" && tell("failed", "connection to the engine lost; reconnecting"));
  ua.on("connected", () => phone.state === "failed" && tell("starting"));
  ua.start();
  await registered;
}

export async function stopPhone() {
  const running = ua;
  ua = null;
  if (running) running.stop();
  tell("off");
  await api("DELETE", "/agents/me/browser-phone");
}

// The engine rings this phone only with the agent's own calls: they are answered at once.
function answer(session) {
  if (phone.session && !phone.session.isEnded()) {
    session.terminate({ status_code: 486 });  // one call at a time
    return;
  }
  phone.session = session;
  const attach = (pc) => pc.addEventListener("track", (event) => {
    phone.remoteStream = event.streams[0];
    const speaker = document.getElementById("phone-audio");
    speaker.srcObject = phone.remoteStream;
    speaker.play().catch(() => {});
  });
  if (session.connection) attach(session.connection);
  else session.on("peerconnection", (e) => attach(e.peerconnection));
  const ended = () => {
    if (phone.session === session) { phone.session = null; phone.remoteStream = null; }
    if (phone.state === "in_call") tell("registered");
  };
  session.on("ended", ended);
  session.on("failed", ended);
  session.on("confirmed", () => { phone.answeredAt.push(Date.now()); tell("in_call"); });
  session.answer({ mediaConstraints: MEDIA, pcConfig: { iceServers } });
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
