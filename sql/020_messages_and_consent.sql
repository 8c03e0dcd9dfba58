-- Messages to debtors (SMS, e-mail) and the consent ledger. A case gains the e-mail address and
-- the language its messages use.
ALTER TABLE cases
    ADD COLUMN email text CHECK (email IS NULL OR email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    ADD COLUMN language text CHECK (language IS NULL OR language ~ '^[a-z]{2,3}(_[A-Z]{2})?$');

-- Every message, from the moment it is asked for: refused ones too (with the rule that refused
-- it), so the contact history shows what was not sent and why.
CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    case_id       bigint REFERENCES cases (id) ON DELETE SET NULL,
    channel       text NOT NULL CHECK (channel IN ('sms', 'email')),
    address       text NOT NULL,                 -- E.164 number or e-mail address
    template      text NOT NULL,
    language      text NOT NULL,
    subject       text,                          -- e-mail only
    body          text NOT NULL,                 -- as sent, opt-out line included
    parts         smallint,                      -- SMS only: as carriers count them
    encoding      text CHECK (encoding IS NULL OR encoding IN ('gsm7', 'ucs2')),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'refused', 'sent', 'delivered', 'failed', 'replied')),
    refused_by    text,                          -- the rule, when refused
    provider_id   text,                          -- the SMTP Message-ID or the gateway's id
    error         text,
    asked_by      bigint REFERENCES agents (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    delivered_at  timestamptz,
    failed_at     timestamptz
);
CREATE INDEX messages_case_idx ON messages (case_id, created_at);
CREATE INDEX messages_provider_idx ON messages (provider_id) WHERE provider_id IS NOT NULL;

-- What each number or address agreed to or revoked, by which means and when. Never updated:
-- the evidence. The latest entry covering a channel decides (pbx_engine.messaging.consent).
CREATE TABLE consent_entries (
    id          bigserial PRIMARY KEY,
    address     text NOT NULL,                   -- E.164 number or lower-case e-mail address
    channels    text[] NOT NULL CHECK (channels <@ ARRAY['call', 'sms', 'email']::text[]
                                       AND cardinality(channels) > 0),
    consent     text NOT NULL CHECK (consent IN ('revoked', 'granted')),
    source      text NOT NULL CHECK (source IN ('sms_reply', 'email_reply', 'disposition',
                                                'supervisor', 'unsubscribe_link', 'import')),
    at          timestamptz NOT NULL,
    until       timestamptz,                     -- a revocation for a time only
    note        text NOT NULL DEFAULT '',
    case_id     bigint REFERENCES cases (id) ON DELETE SET NULL,
    entered_by  bigint REFERENCES agents (id) ON DELETE SET NULL,
    message_id  bigint REFERENCES messages (id) ON DELETE SET NULL,   -- the reply, if one
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_entries_address_idx ON consent_entries (address, at);
