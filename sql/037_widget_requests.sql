-- A debtor who asks for a call back on the creditor's website: a callback source of its own.
ALTER TABLE callbacks DROP CONSTRAINT callbacks_source_check;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_source_check
    CHECK (source IN ('agent', 'ivr', 'queue', 'abandoned', 'agent_lost', 'widget'));

-- Every request made through the creditor's website widget, taken or refused (with why), with
-- the address it came from: the widget's caps are counted from here (per address every request,
-- per number the call backs promised), and a refused one stays on record.
CREATE TABLE widget_requests (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('callback', 'call_now')),
    e164            text,
    case_id         bigint REFERENCES cases (id) ON DELETE SET NULL,
    allowed         boolean NOT NULL,
    reason          text NOT NULL,
    client_address  text NOT NULL,
    callback_id     bigint REFERENCES callbacks (id) ON DELETE SET NULL
);
CREATE INDEX widget_requests_address_idx ON widget_requests (client_address, at);
CREATE INDEX widget_requests_number_idx ON widget_requests (e164, at) WHERE allowed;
