-- The foundation schema: who calls (agents, teams), for what (campaigns, cases and their
-- numbers) and every call attempt with its timestamps and outcome.

CREATE TABLE teams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id            bigserial PRIMARY KEY,
    login         text NOT NULL UNIQUE,
    name          text NOT NULL,
    team_id       bigint REFERENCES teams (id) ON DELETE SET NULL,
    sip_endpoint  text UNIQUE,          -- the PJSIP endpoint of the agent's softphone
    role          text NOT NULL DEFAULT 'agent' CHECK (role IN ('agent', 'supervisor', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    dial_mode   text NOT NULL DEFAULT 'progressive'
                CHECK (dial_mode IN ('preview', 'progressive', 'predictive')),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,   -- mirrored from the campaign's config file
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A debtor's case. The reference is unique per creditor: two creditors may number their debts
-- alike, and a re-import of one creditor's file must update, not duplicate.
CREATE TABLE cases (
    id            bigserial PRIMARY KEY,
    creditor      text NOT NULL,
    reference     text NOT NULL,
    debtor_name   text NOT NULL,
    amount_owed   numeric(14, 2) NOT NULL CHECK (amount_owed >= 0),
    currency      char(3) NOT NULL,
    due_date      date,
    owner_agent_id bigint REFERENCES agents (id) ON DELETE SET NULL,
    timezone      text,                 -- IANA name; else derived from the number
    segment       text,
    campaign_id   bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (creditor, reference)
);
CREATE INDEX cases_owner_idx ON cases (owner_agent_id);
CREATE INDEX cases_campaign_idx ON cases (campaign_id);

CREATE TABLE phone_numbers (
    id        bigserial PRIMARY KEY,
    case_id   bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    e164      text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    kind      text NOT NULL DEFAULT 'unknown'
              CHECK (kind IN ('mobile', 'landline', 'work', 'unknown')),
    position  smallint NOT NULL DEFAULT 0,   -- the order the case's numbers are tried in
    UNIQUE (case_id, e164)
);
-- A debtor calling back is found by the number he calls from.
CREATE INDEX phone_numbers_e164_idx ON phone_numbers (e164);

CREATE TABLE call_attempts (
    id                bigserial PRIMARY KEY,
    channel_id        text NOT NULL UNIQUE,   -- chosen by the engine before the originate
    direction         text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    case_id           bigint REFERENCES cases (id) ON DELETE SET NULL,
    phone_number_id   bigint REFERENCES phone_numbers (id) ON DELETE SET NULL,
    campaign_id       bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    agent_id          bigint REFERENCES agents (id) ON DELETE SET NULL,
    dialled           text NOT NULL,
    caller_id         text,                   -- the number presented to the debtor
    created_at        timestamptz NOT NULL DEFAULT now(),
    originated_at     timestamptz,
    ringing_at        timestamptz,
    answered_at       timestamptz,
    amd_status        text,
    amd_cause         text,
    amd_decided_at    timestamptz,
    bridged_at        timestamptz,
    ended_at          timestamptz,
    hangup_cause      integer,
    hangup_cause_text text,
    outcome           text NOT NULL DEFAULT 'pending'
                      CHECK (outcome IN ('pending', 'human', 'machine', 'busy', 'no_answer',
                                         'rejected', 'failed', 'abandoned', 'cancelled'))
);
-- Attempt caps count a case's attempts in a rolling window.
CREATE INDEX call_attempts_case_time_idx ON call_attempts (case_id, created_at);
-- After a reconnect the engine settles the attempts that are still open.
CREATE INDEX call_attempts_open_idx ON call_attempts (created_at) WHERE ended_at IS NULL;
