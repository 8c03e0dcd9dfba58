-- Signing in from a browser (agent desktop, wallboard, reports): a password per agent, stored
-- as an scrypt hash ("scrypt$n$r$p$salt$hash"), and the sessions it opens.
ALTER TABLE agents ADD COLUMN password_hash text;

-- Only the SHA-256 of a session id is stored: a copy of the table opens no session. Every
-- state-changing request must echo the session's CSRF token in a header.
CREATE TABLE browser_sessions (
    id_sha256   text PRIMARY KEY,
    agent_id    bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX browser_sessions_expiry_idx ON browser_sessions (expires_at);

-- What the creditor reports paid on a case: the dossier's "paid" and the reports' kept promises.
CREATE TABLE payments (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    paid_on     date NOT NULL,
    reference   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_case_idx ON payments (case_id, paid_on);

-- The debt's first owner when it was sold on, shown on the screen pop.
ALTER TABLE cases ADD COLUMN original_creditor text;

-- Every action a supervisor takes from the wallboard or the API (campaign start/stop/pause,
-- supervision), with what it was about.
CREATE TABLE supervisor_actions (
    id              bigserial PRIMARY KEY,
    supervisor_id   bigint REFERENCES agents (id) ON DELETE SET NULL,
    action          text NOT NULL,
    target          text NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervisor_actions_at_idx ON supervisor_actions (at);
