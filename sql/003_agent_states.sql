-- Every change of an agent's state, for occupancy and the supervisor's view of the floor.
CREATE TABLE agent_state_changes (
    id          bigserial PRIMARY KEY,
    agent_id    bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    state       text NOT NULL CHECK (state IN ('logged_out', 'connecting', 'ready', 'reserved',
                                                'on_call', 'wrap_up', 'paused')),
    reason      text,
    channel_id  text,          -- the call the change is about, if any
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_state_changes_agent_idx ON agent_state_changes (agent_id, at);

-- The call's agent and the moment the debtor reached him; dead air is answered_at or
-- amd_decided_at to bridged_at.
ALTER TABLE call_attempts ADD COLUMN abandoned boolean NOT NULL DEFAULT false;
