-- Answers to satisfaction surveys sent by SMS or e-mail after a conversation: a reply to a
-- survey template that gives a score (1 to 5), kept with the agent and campaign of the case's
-- last conversation before the survey went, so reports can show them per agent and campaign.
CREATE TABLE survey_answers (
    id           bigserial PRIMARY KEY,
    reply_id     bigint NOT NULL UNIQUE REFERENCES message_replies (id) ON DELETE CASCADE,
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,   -- the survey
    template     text NOT NULL,
    case_id      bigint REFERENCES cases (id) ON DELETE SET NULL,
    agent_id     bigint REFERENCES agents (id) ON DELETE SET NULL,
    campaign_id  bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    answered_at  timestamptz NOT NULL
);
CREATE INDEX survey_answers_agent_idx ON survey_answers (agent_id, answered_at);
