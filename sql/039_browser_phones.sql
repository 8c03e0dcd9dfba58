-- The browser phones (WebRTC endpoints) an engine has pushed to Asterisk and not yet taken out,
-- under the run that made them. An engine that crashes forgets its own: restarted, or taken
-- over by another, the phones of an earlier run that carry no call are taken out of Asterisk
-- (its astdb keeps them for ever otherwise, one a widget caller). Written before the push:
-- no endpoint is in Asterisk without its row.
CREATE TABLE browser_phones (
    endpoint   text PRIMARY KEY,
    engine     text NOT NULL,
    life       text NOT NULL,
    login      text,
    made_for   text,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((login IS NULL) <> (made_for IS NULL))
);
CREATE INDEX browser_phones_engine ON browser_phones (engine);
