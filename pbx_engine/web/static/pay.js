// The payment page: the provider's card fields (Stripe.js, loaded before this script), the
// amount the debtor chose, and the payment started by the engine and finished by the provider.
// The card goes from these fields to the provider only; the engine then asks the provider itself
// whether the payment went through (the "done" page), never taking this page's word for it.
const form = document.getElementById("pay");
const message = document.getElementById("message");
const { token, key } = form.dataset;
const stripe = window.Stripe(key);
const card = stripe.elements().create("card");
card.mount("#card");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  message.textContent = "";
  try {
    const response = await fetch(`/pay/${encodeURIComponent(token)}/start`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ amount: form.amount.value }),
    });
    const started = await response.json().catch(() => ({}));
    if (!response.ok) {
      message.textContent = started.error || "the payment could not be started";
      return;
    }
    const result = await stripe.confirmCardPayment(started.client_secret, {
      payment_method: { card },
    });
    if (result.error) {
      message.textContent = result.error.message || "the card was not accepted";
      return;
    }
    const intent = encodeURIComponent(result.paymentIntent.id);
    location.href = `/pay/${encodeURIComponent(token)}/done?payment_intent=${intent}`;
  } finally {
    button.disabled = false;
  }
});
