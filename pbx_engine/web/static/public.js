// Shared by the pages reached without signing in (the website widget, a room's invitation):
// a JSON post whose refusal is an Error with the engine's message, and the call's state shown
// on the page (and kept on `holder`, where the page's tests read it).

export async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || data.error || `refused (${response.status})`);
  return data;
}

export function stateShower(holder, elementId) {
  return (state, text) => {
    holder.state = state;
    const shown = document.getElementById(elementId);
    shown.textContent = text;
    shown.dataset.state = state;
  };
}
