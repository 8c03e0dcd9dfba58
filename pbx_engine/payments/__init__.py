"""Payments by link: the signed, expiring link a debtor pays through, the provider behind one
small interface (`provider`) with its Stripe adapter (`stripe`), and the service that turns what
the provider confirms into payments on the case. The card is typed into the provider's own
fields in the debtor's browser; the engine never sees it."""
