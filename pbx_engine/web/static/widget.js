// The website widget: a debtor calls from the page ("Call us now": the engine rings this
// browser into its phone menu and queue) or asks for a call back. The page's ?case= (a signed
// link the creditor put in his page) names his case; the time he picks is his own clock's, sent
// as UTC.
import { postJson, stateShower } from "/static/public.js";
import { answer, peerConfig, register } from "/static/sipphone.js";

const $ = (id) => document.getElementById(id);
const link = new URLSearchParams(location.search).get("case");
const caller = { state: "idle", session: null, remoteStream: null };
let ua = null;  // one phone at a time: a second call makes a new one
window.widgetCaller = caller;

const say = stateShower(caller, "call-state");

async function callNow() {
  $("call-now").disabled = true;
  say("connecting", "Connecting…");
  try {
    if (ua) ua.stop();
    const issued = await postJson("/widget/call", { case: link || null });
    ua = await register(issued, (session) => {
      caller.session = session;
      answer(session, $("call-audio"), peerConfig(issued), {
        stream: (stream) => { caller.remoteStream = stream; },
        confirmed: () => { say("in_call", "Connected."); $("hang-up").disabled = false; },
        ended: () => {
          caller.session = null;
          say("ended", "Call ended.");
          $("hang-up").disabled = true;
          $("call-now").disabled = false;
        },
      });
    });
    await postJson("/widget/call/ring", { endpoint: issued.endpoint });
  } catch (error) {
    say("refused", error.message);
    $("call-now").disabled = false;
  }
}

$("call-now").onclick = callNow;
$("hang-up").onclick = () => caller.session && caller.session.terminate();

async function send(event) {
  event.preventDefault();
  $("send").disabled = true;
  const picked = $("at").value;
  const body = { number: $("number").value.trim(), case: link || null,
                 at: picked ? new Date(picked).toISOString() : null };
  try {
    const response = await fetch("/widget/callback", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    const said = answer.message || answer.error || (answer.errors ? "Please check the number and the time." : `Refused (${response.status}).`);
    $("said").textContent = said;
    $("said").dataset.taken = String(Boolean(answer.taken));
    if (answer.taken) $("callback").classList.add("hidden");
  } catch {
    $("said").textContent = "We could not be reached: please try again.";
  } finally {
    $("send").disabled = false;
  }
}

$("callback").addEventListener("submit", send);
