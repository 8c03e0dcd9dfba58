-- Payments made through the engine's payment link, as the provider confirmed them: which
-- provider and its id for the payment (Stripe: the PaymentIntent). Its webhook and the debtor's
-- return to the page may both report one payment, and a webhook may come more than once: the
-- pair is unique, so the payment is kept once.
ALTER TABLE payments
    ADD COLUMN provider text,
    ADD COLUMN provider_ref text,
    ADD CONSTRAINT payments_provider_named CHECK ((provider IS NULL) = (provider_ref IS NULL));
CREATE UNIQUE INDEX payments_provider_ref_idx ON payments (provider, provider_ref)
    WHERE provider_ref IS NOT NULL;
