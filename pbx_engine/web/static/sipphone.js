// A browser phone that is only ever rung: JsSIP registered through the engine's websocket with
// the credentials the engine made for this page, answering each call by itself. Shared by the
// agent desk (phone.js) and the invitation page (join.js).
const MEDIA = { audio: true, video: false };

function websocketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}

// Registers; resolves with the user agent once registered. `onCall(session)` gets each call.
export function register(issued, onCall, onConnection = () => {}) {
  if (!window.JsSIP) {
    return Promise.reject(new Error("the browser phone's library is not installed on the engine"));
  }
  const ua = new window.JsSIP.UA({
    sockets: [new window.JsSIP.WebSocketInterface(websocketUrl(issued.websocket))],
    uri: `sip:${issued.endpoint}@${location.hostname}`,
    authorization_user: issued.endpoint,
    realm: issued.realm,
    password: issued.password,
    register: true,
    session_timers: false,
    connection_recovery_min_interval: 1,
    connection_recovery_max_interval: 10,
  });
  ua.on("newRTCSession", ({ originator, session }) => originator === "remote" && onCall(session));
  ua.on("disconnected", () => onConnection(false));
  ua.on("connected", () => onConnection(true));
  const registered = new Promise((resolve, reject) => {
    ua.on("registered", () => resolve(ua));
    ua.on("registrationFailed", (e) => reject(new Error(`registration failed: ${e.cause}`)));
  });
  ua.start();
  return registered;
}

// The RTCPeerConnection settings the engine gave with the phone's credentials.
export function peerConfig(issued) {
  return { iceServers: issued.ice_servers || [], iceTransportPolicy: issued.ice_transport_policy || "all" };
}

// Answers `session`, plays what it hears on `speaker`; `events` has stream(s), confirmed() and
// ended(), the last two called once.
export function answer(session, speaker, pcConfig, events) {
  // When it rang, and when its media were up (ICE and DTLS-SRTP connected): the set-up time.
  const timing = { rang: performance.now(), media: null };
  const attach = (pc) => {
    pc.addEventListener("track", (event) => {
      speaker.srcObject = event.streams[0];
      speaker.play().catch(() => {});
      events.stream && events.stream(event.streams[0]);
    });
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected" && timing.media === null) {
        timing.media = performance.now();
        events.media && events.media(timing.media - timing.rang);
      }
    });
  };
  if (session.connection) attach(session.connection);
  else session.on("peerconnection", (e) => attach(e.peerconnection));
  let over = false;
  const ended = () => { if (!over) { over = true; events.ended(); } };
  session.on("ended", ended);
  session.on("failed", ended);
  session.on("confirmed", () => events.confirmed());
  session.answer({ mediaConstraints: MEDIA, pcConfig });
}

export { MEDIA };
