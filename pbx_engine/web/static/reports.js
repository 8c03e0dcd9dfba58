// The reports page: daily figures per campaign or agent, and their CSV.
import { api, changePassword, el, percent, session, signOut, toast } from "/static/common.js";
const $ = (id) => document.getElementById(id);
const me = await session();
$("who").textContent = `${me.name} (${me.login})`;
$("sign-out").onclick = signOut;
$("password").onclick = changePassword;
if (!["supervisor", "admin"].includes(me.role)) {
  $("per").value = "agent"; $("per").disabled = true; $("to-wallboard").classList.add("hidden");
}
// With no dates the engine reports the centre's last seven days, and says which they were.
const query = () => `per=${$("per").value}` +
  ($("from").value ? `&from=${$("from").value}` : "") + ($("to").value ? `&to=${$("to").value}` : "");
async function show(event) {
  event && event.preventDefault();
  $("csv").href = `/reports/daily?${query()}&format=csv`;
  $("by-head").textContent = $("per").value === "agent" ? "Agent" : "Campaign";
  try {
    const data = await api("GET", `/reports/daily?${query()}`);
    $("zone").textContent = data.zone;
    $("from").value = data.from; $("to").value = data.to;
    $("csv").href = `/reports/daily?${query()}&format=csv`;
    $("rows").replaceChildren(...data.rows.map((r) => el("tr", {},
      el("td", {}, r.day), el("td", {}, r.by), el("td", { class: "num" }, r.attempts),
      el("td", { class: "num" }, r.contacts), el("td", { class: "num" }, percent(r.contact_rate)),
      el("td", { class: "num" }, r.right_party), el("td", { class: "num" }, r.promises),
      el("td", { class: "num" }, r.promised), el("td", { class: "num" }, r.kept),
      el("td", { class: "num" }, percent(r.abandon_rate, 2)),
      el("td", { class: "num" }, r.average_handle_seconds === null ? "–" : `${r.average_handle_seconds} s`))));
    if (!data.rows.length) $("rows").append(el("tr", {}, el("td", { colspan: 11, class: "muted" }, "No calls in this period.")));
  } catch (error) { toast(error.message, "error"); }
}
$("query").addEventListener("submit", show);
show();
