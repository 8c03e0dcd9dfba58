"""Messages to debtors by SMS and e-mail: what a message says (operators' templates, filled from
the case, with the opt-out line the engine adds), how long an SMS is before it is sent (its
alphabet and parts), who may be written to (the consent ledger's rules, shared with the dialler),
and the channels that carry them (SMTP; Kannel, the SMS gateway that speaks SMPP to carriers),
with what comes back: delivery reports and debtors' replies."""
