-- What debtors send back: an SMS from the gateway (an e-mail reply later). Each is kept as it
-- came, with the message it answers (the latest one to that address) and what it said about
-- consent, if a keyword ("STOP", "ARRÊT", "START"); one that is neither is for a person to read.
CREATE TABLE message_replies (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL CHECK (channel IN ('sms', 'email')),
    address      text NOT NULL,                 -- who wrote: E.164 number or e-mail address
    to_address   text NOT NULL DEFAULT '',      -- where to: our sender number or mailbox
    body         text NOT NULL,
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,
    case_id      bigint REFERENCES cases (id) ON DELETE SET NULL,
    consent      text CHECK (consent IS NULL OR consent IN ('revoked', 'granted')),
    received_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_replies_case_idx ON message_replies (case_id, received_at);
CREATE INDEX message_replies_address_idx ON message_replies (address, received_at);
