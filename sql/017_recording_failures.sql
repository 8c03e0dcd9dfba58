-- Each recording that did not start, or failed during the call: the call went on unrecorded,
-- and its record says so (which leg, why, when).
CREATE TABLE recording_failures (
    id          bigserial PRIMARY KEY,
    attempt_id  bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    leg         text NOT NULL CHECK (leg IN ('mixed', 'debtor', 'agent')),
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    failed_at   timestamptz NOT NULL
);
CREATE INDEX recording_failures_attempt_idx ON recording_failures (attempt_id);
CREATE INDEX recording_failures_at_idx ON recording_failures (failed_at);
