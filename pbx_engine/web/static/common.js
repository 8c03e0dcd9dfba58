// Shared by the desk, the wallboard and the reports: the signed-in session, API calls with the
// CSRF token, the notices websocket (reconnecting), and small formatting helpers.

let csrfToken = null;

export async function session() {
  const response = await fetch("/signin/session", { credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/signin?next=" + encodeURIComponent(location.pathname);
    throw new Error("not signed in");
  }
  const me = await response.json();
  csrfToken = me.csrf_token;
  return me;
}

export async function api(method, path, body) {
  const headers = { "X-CSRF-Token": csrfToken || "" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const message = data && (data.error || (data.errors || []).map((e) => `${e.field}: ${e.problem}`).join("; "));
    throw new Error(message || `${response.status}`);
  }
  return data;
}

// Notices over the websocket; reconnects with a growing delay (a snapshot comes first each
// time, so nothing is missed while it was away).
export function listen(onNotice, onStatus) {
  let delay = 500;
  const open = () => {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => { delay = 500; onStatus && onStatus(true); };
    ws.onmessage = (event) => onNotice(JSON.parse(event.data));
    ws.onclose = async (event) => {
      onStatus && onStatus(false);
      // Signed out (here or in another tab) or expired: back to the sign-in form. A refused
      // handshake shows no code, so ask whether the session still stands.
      const gone = event.code === 4001
        || (await fetch("/signin/session", { credentials: "same-origin" }).catch(() => null))?.status === 401;
      if (gone) { location.href = "/signin?next=" + encodeURIComponent(location.pathname); return; }
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
}

export async function signOut() {
  try { await api("POST", "/signout"); } finally { location.href = "/signin"; }
}

// The signed-in agent changes his own password; his other browsers are signed out.
export function changePassword() {
  const field = (id, label) => el("label", {}, label,
    el("input", { id, type: "password", autocomplete: id === "pw-current" ? "current-password" : "new-password", required: true }));
  const form = el("form", { method: "dialog", class: "stack" },
    el("h2", {}, "Change password"),
    field("pw-current", "Current password"), field("pw-new", "New password (8 characters or more)"),
    field("pw-again", "New password again"),
    el("div", { class: "row" },
      el("button", { class: "primary", type: "submit", id: "pw-save" }, "Change"),
      el("button", { type: "button", id: "pw-cancel" }, "Cancel")));
  const dialog = el("dialog", { id: "password-dialog" }, form);
  document.body.append(dialog);
  const close = () => { dialog.close(); dialog.remove(); };
  form.querySelector("#pw-cancel").addEventListener("click", close);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    if (value("pw-new") !== value("pw-again")) { toast("the two new passwords differ", "error"); return; }
    try {
      await api("POST", "/signin/password", { current: value("pw-current"), new: value("pw-new") });
      close();
      toast("password changed");
    } catch (error) { toast(error.message, "error"); }
  });
  dialog.showModal();
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function money(amount, currency) {
  if (amount === null || amount === undefined) return "–";
  const value = Number(amount);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "USD" }).format(value);
  } catch { return `${value.toFixed(2)} ${currency || ""}`; }
}

export function duration(sinceIso) {
  if (!sinceIso) return "–";
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(sinceIso)) / 1000));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export function when(iso, timeZone) {
  if (!iso) return "–";
  const options = { dateStyle: "short", timeStyle: "short" };
  if (timeZone) options.timeZone = timeZone;
  try { return new Intl.DateTimeFormat(undefined, options).format(new Date(iso)); }
  catch { return iso; }
}

export function percent(ratio, digits = 1) {
  return ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(digits)}%`;
}

// A wall-clock time typed in `timeZone` (YYYY-MM-DDTHH:MM) as a UTC ISO string: the debtor's
// local time, whatever the agent's own zone.
export function zonedToUtc(local, timeZone) {
  const guess = new Date(local + ":00Z");
  const shown = new Date(guess.toLocaleString("en-US", { timeZone: timeZone || "UTC" }));
  const asUtc = new Date(guess.toLocaleString("en-US", { timeZone: "UTC" }));
  return new Date(guess.getTime() - (shown.getTime() - asUtc.getTime())).toISOString();
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toast");
  if (!box) return;
  box.textContent = message;
  box.className = `toast ${kind}`;
  clearTimeout(box._timer);
  box._timer = setTimeout(() => { box.className = "toast hidden"; }, 4000);
}
