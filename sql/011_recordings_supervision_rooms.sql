-- Call recordings: one row per file Asterisk writes (the mixed call, or each leg), named after
-- its attempt, with the moment it may be deleted (the campaign's retention) and when it was.
CREATE TABLE recordings (
    id              bigserial PRIMARY KEY,
    attempt_id      bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    name            text NOT NULL UNIQUE,      -- Asterisk's stored recording name
    leg             text NOT NULL CHECK (leg IN ('mixed', 'debtor', 'agent')),
    format          text NOT NULL DEFAULT 'wav',
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    delete_after    timestamptz NOT NULL,
    deleted_at      timestamptz
);
CREATE INDEX recordings_attempt_idx ON recordings (attempt_id);
CREATE INDEX recordings_expiry_idx ON recordings (delete_after) WHERE deleted_at IS NULL;

-- Each pause of a call's recording (card details read out), by whom.
CREATE TABLE recording_pauses (
    id          bigserial PRIMARY KEY,
    attempt_id  bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    agent_id    bigint REFERENCES agents (id) ON DELETE SET NULL,
    paused_at   timestamptz NOT NULL,
    resumed_at  timestamptz
);
CREATE INDEX recording_pauses_attempt_idx ON recording_pauses (attempt_id);

-- Every use of supervision: who listened to, whispered to or barged in on whose call, when.
CREATE TABLE supervision_log (
    id              bigserial PRIMARY KEY,
    supervisor_id   bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    agent_id        bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    channel_id      text,                  -- the supervised call (the debtor's channel)
    action          text NOT NULL CHECK (action IN ('listen', 'whisper', 'barge', 'stop')),
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervision_log_at_idx ON supervision_log (at);

-- Conference rooms made through the API (rooms in the config file are not stored).
CREATE TABLE conference_rooms (
    name            text PRIMARY KEY,
    extension       text UNIQUE,
    did             text UNIQUE,
    pin             text,
    moderator_pin   text,
    moderator       text,                  -- an agent's login
    max_members     integer NOT NULL DEFAULT 10 CHECK (max_members > 0),
    tones           boolean NOT NULL DEFAULT true,
    created_by      bigint REFERENCES agents (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
