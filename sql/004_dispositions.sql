-- What an agent records after talking to a debtor, and what it means for the case.
ALTER TABLE cases ADD COLUMN status text NOT NULL DEFAULT 'open'
    CHECK (status IN ('open', 'promised', 'dispute', 'closed'));
ALTER TABLE cases ADD COLUMN next_call_at timestamptz;   -- a promised callback or follow-up
ALTER TABLE phone_numbers ADD COLUMN wrong_party boolean NOT NULL DEFAULT false;
CREATE INDEX cases_campaign_due_idx ON cases (campaign_id, status, due_date);

CREATE TABLE dispositions (
    id            bigserial PRIMARY KEY,
    attempt_id    bigint REFERENCES call_attempts (id) ON DELETE SET NULL,
    case_id       bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    agent_id      bigint REFERENCES agents (id) ON DELETE SET NULL,
    code          text NOT NULL CHECK (code IN ('right_party', 'wrong_party', 'promise_to_pay',
                                                'refused', 'dispute', 'callback')),
    promise_amount numeric(14, 2),
    promise_date  date,
    callback_at   timestamptz,
    note          text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispositions_case_idx ON dispositions (case_id, created_at);
