// The sign-in form. The engine decides where to land: `next` when it is a page of this site,
// else the role's home page.
const form = document.getElementById("signin");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const next = new URLSearchParams(location.search).get("next");
  const response = await fetch("/signin", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify({ login: form.login.value, password: form.password.value, ...(next ? { next } : {}) }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    document.getElementById("error").textContent = body.error || "could not sign in";
    return;
  }
  location.href = body.home;
});
