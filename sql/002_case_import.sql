-- What a creditor's case file carries beyond the foundation: the debtor's postal address.
ALTER TABLE cases ADD COLUMN address text;

-- The do-not-call list: numbers nobody may dial, whatever the case.
CREATE TABLE do_not_call (
    e164        text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    reason      text NOT NULL DEFAULT '',
    added_at    timestamptz NOT NULL DEFAULT now()
);
