// The website widget: a debtor asks for a call back. The page's ?case= (a signed link the
// creditor put in his page) names his case; the time he picks is his own clock's, sent as UTC.
const $ = (id) => document.getElementById(id);
const link = new URLSearchParams(location.search).get("case");

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
