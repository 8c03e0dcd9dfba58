// The supervisor's wallboard: every agent and every campaign, live over the websocket; campaign
// start/pause/stop and listen/whisper/barge buttons (each action is audited by the engine).
import { api, changePassword, duration, el, listen, percent, session, signOut, toast } from "/static/common.js";

const $ = (id) => document.getElementById(id);
const agents = new Map();  // login -> agent notice data
let names = {};
let supervising = null;

function agentRow(a) {
  const onCall = a.state === "on_call";
  const supervise = (mode) => el("button", { disabled: !onCall, onclick: () => startSupervision(a.login, mode) }, mode);
  return el("tr", { id: `agent-${a.login}`, dataset: { state: a.state, login: a.login } },
    el("td", {}, (a.name || names[a.login]) && (a.name || names[a.login]) !== a.login
      ? `${a.name || names[a.login]} (${a.login})` : a.login),
    el("td", {}, el("span", { class: `state ${a.state}` }, a.state.replace("_", " ")), a.reason ? el("span", { class: "muted" }, ` ${a.reason}`) : null),
    el("td", { class: "num", dataset: { since: a.since || "" } }, duration(a.since)),
    el("td", {}, a.number ?? (a.call_id ? "…" : "")),
    el("td", {}, a.case ?? ""),
    el("td", {}, a.recording === "not_recording" ? el("span", { class: "rec-failed" }, "not recording") : ""),
    el("td", { class: "num dead-air" }, a.dead_air_ms === null || a.dead_air_ms === undefined ? "" : `${Math.round(a.dead_air_ms)} ms`),
    el("td", {}, supervise("listen"), supervise("whisper"), supervise("barge")),
  );
}

function showAgent(a) {
  const before = agents.get(a.login);
  agents.set(a.login, a);
  const row = agentRow(a);
  const old = $(`agent-${a.login}`);
  if (old) old.replaceWith(row); else $("agents").append(row);
  if (!before || before.state !== a.state) row.dataset.changedAt = String(Date.now());
  else if (old) row.dataset.changedAt = old.dataset.changedAt;
}

function gauge(label, rate, cap) {
  // A half-circle: the needle at the rate, full scale twice the cap; red past the cap.
  const share = Math.min(1, (rate || 0) / (2 * cap));
  const angle = Math.PI * (1 - share);
  const x = 50 + 38 * Math.cos(angle), y = 48 - 38 * Math.sin(angle);
  const over = (rate || 0) > cap;
  return el("div", { class: "gauge", dataset: { period: label } },
    svg(`<svg width="100" height="56" viewBox="0 0 100 56">
      <path d="M12 48 A38 38 0 0 1 50 10" stroke="#3fb950" stroke-width="8" fill="none"/>
      <path d="M50 10 A38 38 0 0 1 88 48" stroke="#f85149" stroke-width="8" fill="none"/>
      <line x1="50" y1="48" x2="${x.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#1c2733" stroke-width="3"/>
      </svg>`),
    el("b", { class: over ? "over" : null }, percent(rate, 2)), el("div", { class: "muted" }, label));
}

function svg(markup) {
  const holder = document.createElement("div");
  holder.innerHTML = markup;  // our own markup, numbers only
  return holder.firstElementChild;
}

function dayChart(slots, dayStart, zone) {
  // Connects per 15 minutes (bars) and the abandon rate (line, right scale up to 10%), from
  // the centre's midnight.
  const width = 400, height = 90, n = 96;
  const start = Date.parse(dayStart);
  const at = (iso) => Math.floor((Date.parse(iso) - start) / 900000);
  const top = Math.max(1, ...slots.map((s) => s.connects));
  const bar = width / n;
  let bars = "", line = "";
  for (const s of slots) {
    const i = at(s.slot), h = (s.connects / top) * (height - 10);
    bars += `<rect x="${(i * bar).toFixed(1)}" y="${(height - h).toFixed(1)}" width="${Math.max(1, bar - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="#1f6feb"/>`;
    const live = s.connects + s.abandons;
    const rate = live ? s.abandons / live : 0;
    line += `${line ? "L" : "M"}${(i * bar + bar / 2).toFixed(1)} ${(height - Math.min(1, rate / 0.1) * (height - 10)).toFixed(1)} `;
  }
  return el("div", { class: "chart" },
    svg(`<svg width="100%" viewBox="0 0 ${width} ${height + 12}" preserveAspectRatio="none">
      <line x1="0" y1="${height}" x2="${width}" y2="${height}" stroke="#dde3ea"/>
      ${bars}${line ? `<path d="${line}" stroke="#cf222e" stroke-width="1.5" fill="none"/>` : ""}
      ${[0, 6, 12, 18].map((h) => `<text x="${(h * 4 * bar).toFixed(1)}" y="${height + 11}" font-size="9" fill="#66768a">${h}:00</text>`).join("")}
      </svg>`),
    el("div", { class: "muted" }, `Today (${zone}), per 15 minutes: connects (bars), abandon rate (line, top = 10%)`));
}

function campaignCard(c) {
  const cap = c.abandon_target;
  const action = (name) => el("button", { onclick: () => campaignAction(c.name, name), disabled: c.state === { start: "running", pause: "paused", stop: "stopped" }[name] }, name);
  const today = c.today || {};
  return el("section", { class: "panel", id: `campaign-${c.name}`, dataset: { state: c.state, connects: today.contacts ?? 0 } },
    el("h2", {}, `${c.name} · ${c.dial_mode} · `, el("span", { class: "campaign-state" }, c.state)),
    el("div", { class: "row" }, action("start"), action("pause"), action("stop")),
    el("div", { class: "facts" },
      el("div", {}, el("span", {}, "Calls placed"), c.placed),
      el("div", {}, el("span", {}, "Lines in flight"), c.in_flight),
      el("div", {}, el("span", {}, "Live connects now"), c.live),
      el("div", {}, el("span", {}, "Connects today"), today.contacts ?? 0),
      el("div", {}, el("span", {}, "Machines today"), today.machines ?? 0),
      el("div", {}, el("span", {}, "Screened today"), today.screened ?? 0),
      el("div", {}, el("span", {}, "Dial level"), c.dial_level),
      el("div", {}, el("span", {}, "Occupancy today"), percent(c.occupancy)),
      el("div", {}, el("span", {}, "Dead air p50 / p99"),
        c.dead_air.verdict_to_bridge_p50_ms === null ? "–" : `${c.dead_air.verdict_to_bridge_p50_ms} / ${c.dead_air.verdict_to_bridge_p99_ms} ms`),
    ),
    el("div", { class: "row" }, el("b", {}, `Abandon rate (cap ${percent(cap, 0)})`)),
    el("div", { class: "gauges" },
      gauge("today", c.abandon_rates.today.rate, cap),
      gauge("24 h", c.abandon_rates["24h"].rate, cap),
      gauge("30 days", c.abandon_rates["30d"].rate, cap)),
    dayChart(c.chart || [], c.day_start, c.zone),
  );
}

function showRecordingFailures(f) {
  // Calls that went unrecorded lately: nobody on the call would otherwise tell a supervisor.
  const box = $("recording-failures");
  const calls = (f && f.calls) || 0;
  box.dataset.calls = String(calls);
  box.classList.toggle("hidden", !calls);
  box.replaceChildren(el("b", {}, `Recording failures: ${calls} call${calls === 1 ? "" : "s"} unrecorded in the last ${f ? f.period_minutes : 60} minutes`),
    el("span", { class: "muted" }, " ", Object.entries((f && f.by_campaign) || {}).map(([c, n]) => `${c}: ${n}`).join(" · ")));
}

function showCampaigns(list) {
  $("campaigns").replaceChildren(...list.map(campaignCard));
}

async function campaignAction(name, action) {
  try { await api("POST", `/campaigns/${encodeURIComponent(name)}/${action}`); }
  catch (error) { toast(error.message, "error"); }
}

async function startSupervision(agent, mode) {
  const number = $("ring-at").value.replace(/\s/g, "");
  try {
    supervising = supervising
      ? await api("POST", "/supervision/mode", { mode })
      : await api("POST", "/supervision", number ? { agent, mode, number } : { agent, mode });
    $("stop-supervision").disabled = false;
    toast(`${mode} on ${agent}`);
  } catch (error) { toast(error.message, "error"); }
}

function onNotice(notice) {
  const data = notice.data;
  if (notice.kind === "snapshot") {
    names = data.names || {};
    agents.clear();
    $("agents").replaceChildren();
    (data.agents || []).forEach(showAgent);
    showCampaigns(data.campaigns || []);
    showRecordingFailures(data.recording_failures);
  } else if (notice.kind === "recording_failures") {
    showRecordingFailures(data);
  } else if (notice.kind === "agent") {
    showAgent({ ...(agents.get(data.login) || {}), ...data });
  } else if (notice.kind === "campaigns") {
    showCampaigns(data.campaigns);
  }
}

async function start() {
  const me = await session();
  if (!["supervisor", "admin"].includes(me.role)) { location.href = "/desk/"; return; }
  $("who").textContent = `${me.name} (${me.login})`;
  $("sign-out").onclick = signOut;
  $("password").onclick = changePassword;
  $("stop-supervision").onclick = async () => {
    try { await api("DELETE", "/supervision"); supervising = null; $("stop-supervision").disabled = true; }
    catch (error) { toast(error.message, "error"); }
  };
  // Time in state ticks locally; states themselves only change on notices.
  setInterval(() => document.querySelectorAll("td[data-since]").forEach((td) => {
    td.textContent = duration(td.dataset.since || null);
  }), 1000);
  listen(onNotice, (up) => $("live").classList.toggle("on", up));
}

start();
