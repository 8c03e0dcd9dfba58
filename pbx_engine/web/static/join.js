// The invitation page's "Join from this browser": the engine makes a phone for this page alone,
// the page registers it, and the engine rings it into the room (counted and capped like a
// call to a number). Leaving hangs up; closing the page does too.
import { postJson, stateShower } from "/static/public.js";
import { answer, peerConfig, register } from "/static/sipphone.js";

const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\/$/, "");
const guest = { state: "idle", remoteStream: null, session: null };
window.roomGuest = guest;

const say = stateShower(guest, "browser-state");
const post = (path, body) => postJson(base + path, body);

async function join() {
  $("join-browser").disabled = true;
  say("connecting", "Connecting…");
  try {
    const issued = await post("/browser");
    await register(issued, (session) => {
      guest.session = session;
      answer(session, $("room-audio"), peerConfig(issued), {
        stream: (stream) => { guest.remoteStream = stream; },
        confirmed: () => { say("in_room", "You are in the room."); $("leave").disabled = false; },
        ended: () => { guest.session = null; say("left", "You have left the room."); $("leave").disabled = true; },
      });
    });
    say("ringing", "Joining…");
    await post("/browser/ring", { endpoint: issued.endpoint });
  } catch (error) {
    say("refused", error.message);
    $("join-browser").disabled = false;
  }
}

$("join-browser").onclick = join;
$("leave").onclick = () => guest.session && guest.session.terminate();
