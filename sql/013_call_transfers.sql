-- A debtor's call handed over from one agent to another (to the case's owner, say). The
-- attempt's agent becomes the one who took it; the one who handed it over may still record
-- what was said before.
CREATE TABLE call_transfers (
    id             bigserial PRIMARY KEY,
    attempt_id     bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    from_agent_id  bigint REFERENCES agents (id) ON DELETE SET NULL,
    to_agent_id    bigint REFERENCES agents (id) ON DELETE SET NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX call_transfers_attempt_idx ON call_transfers (attempt_id);
CREATE INDEX call_transfers_from_idx ON call_transfers (from_agent_id);
