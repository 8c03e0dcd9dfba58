// The agent desktop: state buttons, the screen pop on every call, the disposition form, preview,
// callbacks, recording and third parties. Everything shown comes from the websocket.
import { checkMicrophone, onPhoneChange, phone, setHeld, setMuted, setVolume, startPhone, stopPhone } from "/static/phone.js";
import { api, changePassword, duration, el, listen, money, session, signOut, toast, when, zonedToUtc } from "/static/common.js";

const $ = (id) => document.getElementById(id);
let me = null;
let state = { state: "logged_out", since: null };
let pop = null;  // the current call's screen pop
let lastCall = null;  // the call the disposition form is for (kept through wrap-up)

function showState(agent) {
  state = agent;
  $("state").textContent = agent.state.replace("_", " ");
  $("state").className = `state ${agent.state}`;
  $("state").dataset.state = agent.state;
  const s = agent.state;
  $("phone-login").disabled = $("browser-login").disabled = s !== "logged_out";
  $("ready").disabled = !["paused", "wrap_up"].includes(s);
  $("pause").disabled = !["ready", "wrap_up"].includes(s);
  $("phone-logout").disabled = s === "logged_out";
  $("preview-next").disabled = s !== "ready";
  tick();
}

function tick() {
  $("in-state").textContent = state.since ? duration(state.since) + (state.reason ? ` · ${state.reason}` : "") : "";
}

function fact(label, value) {
  return el("div", {}, el("span", {}, label), value ?? "–");
}

function dossier(c, extra = {}) {
  const paid = Number(c.amount_paid || 0);
  const balance = Number(c.amount_owed) - paid;
  const zone = c.timezone || "UTC";
  return el("div", { class: "dossier", dataset: { caseId: c.id, reference: c.reference } },
    el("div", { class: "big" }, c.debtor_name, " ", el("span", { class: "muted" }, `#${c.reference}`)),
    el("div", { class: "facts" },
      fact("Owed", money(c.amount_owed, c.currency)),
      fact("Paid", money(paid, c.currency)),
      fact("Balance", money(balance, c.currency)),
      fact("Due date", c.due_date),
      fact("Creditor", c.creditor),
      fact("Original creditor", c.original_creditor || c.creditor),
      fact("Status", c.status),
      fact("Owner", c.owner),
      fact("Debtor's time", `${when(new Date().toISOString(), zone)} (${zone})`),
      fact("Address", c.address),
      ...Object.entries(extra).map(([k, v]) => fact(k, v)),
    ),
    el("div", { class: "row" }, "Numbers: ",
      ...(c.numbers || []).map((n) => el("span", { class: n.wrong_party ? "muted" : "" },
        `${n.e164} (${n.kind}${n.wrong_party ? ", wrong party" : ""})`))),
    (c.plan || []).length ? el("div", {}, el("b", {}, "Repayment plan: "),
      c.plan.map((p) => `${money(p.amount, c.currency)} by ${p.date}`).join(" · ")) : null,
    // The case's signed payment link, to read out or send while the debtor is on the line.
    c.pay_link ? el("div", {}, el("b", {}, "Payment link: "),
      el("a", { href: c.pay_link, target: "_blank", rel: "noopener", id: "pay-link" }, c.pay_link)) : null,
    (c.payments || []).length ? el("div", {}, el("b", {}, "Payments: "),
      c.payments.map((p) => `${money(p.amount, c.currency)} on ${p.paid_on}`).join(" · ")) : null,
    el("h2", {}, "Contact history"),
    el("table", { id: "history" },
      el("thead", {}, el("tr", {}, ["When", "Channel", "Number", "Outcome", "Agent", "Disposition", "Note", "Recordings"].map((h) => el("th", {}, h)))),
      el("tbody", {}, (c.history || []).map((h) => el("tr", { class: `history-${h.kind || "call"}` },
        el("td", {}, when(h.at)), el("td", {}, contactChannel(h)),
        el("td", {}, h.number), el("td", {}, h.outcome), el("td", {}, h.agent ?? ""),
        el("td", {}, h.disposition ? `${h.disposition}${h.promise_amount ? " " + money(h.promise_amount, c.currency) + " by " + h.promise_date : ""}${h.callback_at ? " " + when(h.callback_at, zone) : ""}` : ""),
        // A message's note is its text (and why it was refused or failed), a reply's its words.
        el("td", {}, [h.text, h.note].filter(Boolean).join(" — ")),
        // An agent may play the recordings of his own calls only (the engine refuses others).
        el("td", {}, h.agent === me.login || ["supervisor", "admin"].includes(me.role)
          ? (h.recordings || []).map((name) => el("a", { href: `/recordings/${encodeURIComponent(name)}` }, "▶ ", name))
          : (h.recordings || []).length ? "recorded" : "")),
      )),
    ),
  );
}

// What the history row was: a call either way, a message we sent, or the debtor's reply.
function contactChannel(h) {
  const kind = h.kind || "call";
  const name = { call: "call", sms: "SMS", email: "e-mail" }[kind] || kind;
  if (kind === "call") return h.direction === "inbound" ? "inbound call" : "outbound call";
  return h.direction === "inbound" ? `${name} reply` : name;
}

function showPop(data) {
  pop = data;
  lastCall = data;
  const box = $("screen-pop");
  box.replaceChildren(
    el("div", { class: "row" }, el("b", {}, data.direction === "inbound" ? "Inbound call from " : "Call to "), data.number,
      data.campaign ? el("span", { class: "muted" }, ` · campaign ${data.campaign}`) : null),
    data.case ? dossier(data.case) : el("div", { class: "muted" }, "No case for this number."),
  );
  box.dataset.channelId = data.channel_id;
  box.classList.remove("hidden");
  $("no-call").classList.add("hidden");
  $("call-controls").classList.remove("hidden");
  $("add-owner").disabled = $("transfer-owner").disabled =
    !(data.case && data.case.owner && data.case.owner !== me.login);
  $("script-panel").classList.toggle("hidden", !data.script);
  $("script").textContent = data.script || "";
  $("debtor-zone").textContent = (data.case && data.case.timezone) || "UTC";
  $("disposition-panel").classList.toggle("hidden", !data.case);
  $("disposition").reset();
  $("saved").textContent = "";
  $("parties").replaceChildren();
  showRecording(data.recording);
  // When it was on screen: the tests measure the time from the bridge to here.
  box.dataset.shownAt = String(Date.now());
}

function showRecording(r) {
  // A recording that did not start (or failed) leaves the call unrecorded: say so and why,
  // instead of offering to pause what is not running. No state yet: nothing is claimed.
  const failed = !!r && r.state === "not_recording";
  $("rec-pause").classList.toggle("hidden", failed);
  $("rec-resume").classList.toggle("hidden", failed);
  $("rec-state").classList.toggle("rec-failed", !!(r && r.reason));
  $("rec-state").dataset.recording = r ? r.state : "";
  $("rec-state").textContent = !r ? ""
    : failed ? `Not recording: ${r.reason || "the recording failed"}`
    : r.reason ? `recording (in part: ${r.reason})` : "recording";
}

function callEnded() {
  pop = null;
  $("call-controls").classList.add("hidden");
  $("screen-pop").dataset.ended = "true";
  $("no-call").classList.remove("hidden");
  $("no-call").textContent = "Call ended: record its disposition.";
}

function showCallbacks(list) {
  $("callbacks").replaceChildren(...list.map((cb) => el("tr", {},
    el("td", {}, when(cb.due_at, cb.timezone || undefined)),
    el("td", {}, `${cb.debtor_name ?? ""} #${cb.reference ?? cb.case_id}`),
    el("td", {}, cb.e164))));
  if (!list.length) $("callbacks").append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "None pending.")));
}

function onNotice(notice) {
  const data = notice.data;
  if (notice.kind === "snapshot") {
    showState(data.me);
    if (data.screen_pop) showPop(data.screen_pop);
    showCallbacks(data.callbacks || []);
  } else if (notice.kind === "agent") {
    showState(data);
  } else if (notice.kind === "screen_pop") {
    showPop(data);
  } else if (notice.kind === "recording") {
    if (pop && pop.channel_id === data.channel_id) { pop.recording = data; showRecording(data); }
  } else if (notice.kind === "call_ended") {
    callEnded();
  } else if (notice.kind === "callbacks") {
    showCallbacks(data.callbacks);
  } else if (notice.kind === "disposition") {
    $("saved").textContent = `Saved: ${data.code} (case ${data.case_status})`;
  }
}

async function act(promise, done) {
  try { const result = await promise; if (done) done(result); return result; }
  catch (error) { toast(error.message, "error"); return null; }
}

function selectedCode() {
  const checked = document.querySelector("input[name=code]:checked");
  return checked ? checked.value : null;
}

function updateFields() {
  const code = selectedCode();
  $("promise-fields").classList.toggle("hidden", code !== "promise_to_pay");
  $("callback-fields").classList.toggle("hidden", code !== "callback");
}

async function saveDisposition(event) {
  event && event.preventDefault();
  if (!lastCall) return;
  const code = selectedCode();
  if (!code) { toast("choose a disposition", "error"); return; }
  const body = { code, note: $("note").value };
  if (code === "promise_to_pay") {
    body.promise_amount = $("promise-amount").value.trim();
    body.promise_date = $("promise-date").value;
  }
  if (code === "callback") {
    if (!$("callback-at").value) { toast("choose the callback time", "error"); return; }
    body.callback_at = zonedToUtc($("callback-at").value, (lastCall.case && lastCall.case.timezone) || "UTC");
    body.callback_owner_only = $("owner-only").checked;
  }
  await act(api("POST", `/calls/${encodeURIComponent(lastCall.channel_id)}/disposition`, body),
    (saved) => { $("saved").textContent = `Saved: ${saved.code} (case ${saved.case_status})`; });
}

function shortcuts(event) {
  if (event.ctrlKey && event.key === "Enter") { saveDisposition(event); return; }
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)
    && document.activeElement.type !== "radio";
  if (typing || event.ctrlKey || event.altKey || event.metaKey) return;
  const radio = document.querySelector(`input[name=code][data-key="${event.key.toLowerCase()}"]`);
  if (radio && !$("disposition-panel").classList.contains("hidden")) {
    radio.checked = true;
    updateFields();
    const first = { promise_to_pay: "promise-amount", callback: "callback-at" }[radio.value];
    (first ? $(first) : $("note")).focus();
    event.preventDefault();
  }
}

let offered = null;
function showOffer(offer) {
  offered = offer;
  $("preview-dial").disabled = $("preview-skip").disabled = !offer;
  $("preview-case").replaceChildren(offer ? dossier(offer.case, { "Number to dial": offer.number }) : "");
}

// This browser as his phone: registered first, then logged in on it (the engine rings it and
// the phone answers by itself).
async function loginBrowserPhone() {
  $("browser-login").disabled = true;
  try {
    await startPhone();
    await api("POST", "/agents/me/login", { phone: "browser" });
  } catch (error) {
    toast(error.message);
    $("browser-login").disabled = state.state !== "logged_out";
  }
}

function showPhone(p) {
  $("phone-panel").classList.toggle("hidden", p.state === "off");
  $("phone-state").textContent = p.why || p.state.replace("_", " ");
  $("phone-state").dataset.state = p.state;
}

function toggle(id, apply) {
  const on = $(id).getAttribute("aria-pressed") !== "true";
  apply(on);
  $(id).setAttribute("aria-pressed", String(on));
}

async function start() {
  me = await session();
  $("who").textContent = `${me.name} (${me.login})`;
  $("phone-login").onclick = () => act(api("POST", "/agents/me/login"));
  $("ready").onclick = () => act(api("POST", "/agents/me/ready"));
  $("pause").onclick = () => act(api("POST", "/agents/me/pause", { reason: $("pause-reason").value }));
  $("browser-login").onclick = loginBrowserPhone;
  $("phone-logout").onclick = () => act(api("POST", "/agents/me/logout"),
    () => phone.state !== "off" && stopPhone().catch((e) => toast(e.message)));
  onPhoneChange(showPhone);
  $("phone-mute").onclick = () => toggle("phone-mute", setMuted);
  $("phone-hold").onclick = () => toggle("phone-hold", setHeld);
  $("phone-volume").oninput = (e) => setVolume(Number(e.target.value));
  $("mic-check").onclick = async () => {
    const loudest = await checkMicrophone((level) => { $("mic-level").value = level; });
    toast(loudest > 0.01 ? "your microphone is heard" : "no sound from your microphone");
  };
  $("sign-out").onclick = signOut;
  $("password").onclick = changePassword;
  $("preview-next").onclick = () => act(api("POST", "/agents/me/preview"), showOffer);
  $("preview-dial").onclick = () => act(api("POST", "/agents/me/preview/dial"), () => showOffer(null));
  $("preview-skip").onclick = () => act(api("POST", "/agents/me/preview/skip"), () => showOffer(null));
  const recording = (action) => act(api("POST", `/calls/${encodeURIComponent(pop.channel_id)}/recording/${action}`),
    (r) => { $("rec-state").textContent = r.paused ? "recording paused" : "recording"; });
  $("rec-pause").onclick = () => pop && recording("pause");
  $("rec-resume").onclick = () => pop && recording("resume");
  const addParty = (body) => act(api("POST", "/agents/me/call/parties", body), (party) => {
    const item = el("li", {}, `${party.kind}: ${party.target} `,
      el("button", { class: "danger", onclick: () => act(api("DELETE", `/agents/me/call/parties/${encodeURIComponent(party.id)}`), () => item.remove()) }, "Drop"));
    $("parties").append(item);
  });
  $("add-number").onclick = () => addParty({ number: $("party-number").value.replace(/\s/g, "") });
  $("add-agent").onclick = () => addParty({ agent: $("party-agent").value.trim() });
  $("add-owner").onclick = () => pop && pop.case && addParty({ agent: pop.case.owner });
  // The call leaves this desk (call_ended arrives); the disposition form stays for a note.
  $("end-call").onclick = () => pop && act(api("POST", "/agents/me/call/end"),
    (done) => toast(done.survey ? "call ended; the debtor is taking the survey" : "call ended"));
  $("transfer-owner").onclick = () => pop && pop.case && act(
    api("POST", "/agents/me/call/transfer", { agent: pop.case.owner }),
    (done) => toast(`handed over to ${done.agent}`));
  document.querySelectorAll("input[name=code]").forEach((r) => r.addEventListener("change", updateFields));
  $("disposition").addEventListener("submit", saveDisposition);
  document.addEventListener("keydown", shortcuts);
  updateFields();
  setInterval(tick, 1000);  // the clock of time in state; no request
  listen(onNotice, (up) => $("live").classList.toggle("on", up));
}

start();
