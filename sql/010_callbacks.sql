-- Callbacks: promised to a debtor (by an agent, by the IVR, or offered to a caller who waited
-- too long in the queue), each with its due time, whom it is for, and what became of it.
CREATE TABLE callbacks (
    id              bigserial PRIMARY KEY,
    case_id         bigint REFERENCES cases (id) ON DELETE CASCADE,
    e164            text NOT NULL,
    due_at          timestamptz NOT NULL,
    owner_agent_id  bigint REFERENCES agents (id) ON DELETE SET NULL,
    owner_only      boolean NOT NULL DEFAULT false,
    priority        integer NOT NULL DEFAULT 0,
    source          text NOT NULL CHECK (source IN ('agent', 'ivr', 'queue', 'abandoned')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'missed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    channel_id      text,                -- the call that asked for it, if any
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callbacks_due_idx ON callbacks (due_at) WHERE status = 'pending';

-- Inbound calls: how long the caller waited for an agent, and how it ended for him.
ALTER TABLE call_attempts ADD COLUMN queue_seconds real;
ALTER TABLE call_attempts ADD COLUMN route text;
