-- The current schema in one file, for reading: what the numbered migrations (001_… onwards) build
-- when applied in order. The engine never runs this file; it migrates. A test builds one database
-- from this file and one from the migrations and compares their catalogs (columns with types,
-- defaults and nullability; constraints; indexes; sequences; functions), so a migration that is
-- not folded in here fails the suite. Columns added by later migrations stay at the end of their
-- table, in the order they were added, so that both databases list them alike.
--
-- Sections: people (teams, agents, sessions); what is called (campaigns, cases, numbers,
-- do-not-call); calls (attempts, agent states, transfers, recordings); after the call
-- (dispositions, callbacks, payments); supervision; conference rooms; outbound dials; messages
-- and consent; contact strategies.


-- People ------------------------------------------------------------------------------------

CREATE TABLE teams (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    id                bigserial PRIMARY KEY,
    login             text NOT NULL UNIQUE,
    name              text NOT NULL,
    team_id           bigint REFERENCES teams (id) ON DELETE SET NULL,
    sip_endpoint      text UNIQUE,      -- the PJSIP endpoint of the agent's softphone
    role              text NOT NULL DEFAULT 'agent'
                      CHECK (role IN ('agent', 'supervisor', 'admin')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    token_sha256      text UNIQUE,      -- the API token's SHA-256; the token is never stored
    password_hash     text,             -- scrypt: "scrypt$n$r$p$salt$hash"
    disabled_at       timestamptz,      -- no token, session or sign-in works once set
    token_expires_at  timestamptz
);

-- Softphone accounts the engine pushes to Asterisk (astdb) and pushes again when Asterisk lost
-- them. The SIP password is never stored: md5_cred (MD5 of "endpoint:realm:password") is what
-- Asterisk checks a REGISTER against, and all a new push needs.
CREATE TABLE softphone_accounts (
    endpoint    text PRIMARY KEY,
    agent_id    bigint NOT NULL UNIQUE REFERENCES agents (id) ON DELETE CASCADE,
    realm       text NOT NULL,
    md5_cred    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a session id is stored: a copy of the table opens no session. Every
-- state-changing request must echo the session's CSRF token in a header.
CREATE TABLE browser_sessions (
    id_sha256     text PRIMARY KEY,
    agent_id      bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL DEFAULT now()   -- an idle session ends early
);
CREATE INDEX browser_sessions_expiry_idx ON browser_sessions (expires_at);


-- What is called ----------------------------------------------------------------------------

CREATE TABLE campaigns (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    dial_mode   text NOT NULL DEFAULT 'progressive'
                CHECK (dial_mode IN ('preview', 'progressive', 'predictive')),
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,   -- mirrored from the campaign's config file
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- what an operator last told it (start, pause, stop): an engine started again resumes it
    run_state   text NOT NULL DEFAULT 'stopped'
                CHECK (run_state IN ('stopped', 'running', 'paused')),
    run_state_at timestamptz
);

-- A debtor's case. The reference is unique per creditor: two creditors may number their debts
-- alike, and a re-import of one creditor's file must update, not duplicate.
CREATE TABLE cases (
    id                 bigserial PRIMARY KEY,
    creditor           text NOT NULL,
    reference          text NOT NULL,
    debtor_name        text NOT NULL,
    amount_owed        numeric(14, 2) NOT NULL CHECK (amount_owed >= 0),
    currency           char(3) NOT NULL,
    due_date           date,
    owner_agent_id     bigint REFERENCES agents (id) ON DELETE SET NULL,
    timezone           text,            -- IANA name; else derived from the number
    segment            text,
    campaign_id        bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    address            text,
    status             text NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'promised', 'dispute', 'closed')),
    next_call_at       timestamptz,     -- a promised callback or follow-up
    -- When a case the planner could not call may be due again ('infinity': not while things
    -- stay as they are); a re-import, a disposition or the campaign's (re)start clears it.
    dial_after         timestamptz,
    -- A case an agent passed over in preview is not offered again until then.
    skipped_until      timestamptz,
    skipped_by         bigint REFERENCES agents (id) ON DELETE SET NULL,
    original_creditor  text,            -- the debt's first owner when it was sold on
    email              text CHECK (email IS NULL OR email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    language           text CHECK (language IS NULL OR language ~ '^[a-z]{2,3}(_[A-Z]{2})?$'),
    UNIQUE (creditor, reference)
);
CREATE INDEX cases_owner_idx ON cases (owner_agent_id);
CREATE INDEX cases_campaign_idx ON cases (campaign_id);
CREATE INDEX cases_campaign_due_idx ON cases (campaign_id, status, due_date);

CREATE TABLE phone_numbers (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    e164         text NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    kind         text NOT NULL DEFAULT 'unknown'
                 CHECK (kind IN ('mobile', 'landline', 'work', 'unknown')),
    position     smallint NOT NULL DEFAULT 0,   -- the order the case's numbers are tried in
    wrong_party  boolean NOT NULL DEFAULT false,
    UNIQUE (case_id, e164)
);
-- A debtor calling back is found by the number he calls from.
CREATE INDEX phone_numbers_e164_idx ON phone_numbers (e164);

-- Numbers nobody may dial, whatever the case.
CREATE TABLE do_not_call (
    e164        text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    reason      text NOT NULL DEFAULT '',
    added_at    timestamptz NOT NULL DEFAULT now()
);


-- Calls -------------------------------------------------------------------------------------

CREATE TABLE call_attempts (
    id                  bigserial PRIMARY KEY,
    channel_id          text NOT NULL UNIQUE,   -- chosen by the engine before the originate
    direction           text NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    case_id             bigint REFERENCES cases (id) ON DELETE SET NULL,
    phone_number_id     bigint REFERENCES phone_numbers (id) ON DELETE SET NULL,
    campaign_id         bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    agent_id            bigint REFERENCES agents (id) ON DELETE SET NULL,
    dialled             text NOT NULL,
    caller_id           text,                   -- the number presented to the debtor
    created_at          timestamptz NOT NULL DEFAULT now(),
    originated_at       timestamptz,
    ringing_at          timestamptz,
    answered_at         timestamptz,
    amd_status          text,
    amd_cause           text,
    amd_decided_at      timestamptz,
    bridged_at          timestamptz,
    ended_at            timestamptz,
    hangup_cause        integer,
    hangup_cause_text   text,
    outcome             text NOT NULL DEFAULT 'pending'
                        CHECK (outcome IN ('pending', 'human', 'machine', 'screened',
                                           'silence', 'fax', 'busy', 'no_answer', 'rejected',
                                           'failed', 'abandoned', 'cancelled', 'not_placed')),
    abandoned           boolean NOT NULL DEFAULT false,
    message_started_at  timestamptz,            -- the message left on a machine
    message_ended_at    timestamptz,
    queue_seconds       real,                   -- inbound: how long the caller waited
    route               text,                   -- inbound: how it ended for him
    screened_at         timestamptz,            -- a call-screening assistant answered our line
    placed_by           text,                   -- the engine that placed or took the call
    lease_token         bigint,                 -- ... and its token when the call was placed
    node                text                    -- the Asterisk node that carried it
);
-- Attempt caps count a case's attempts in a rolling window.
CREATE INDEX call_attempts_case_time_idx ON call_attempts (case_id, created_at);
-- After a reconnect the engine settles the attempts that are still open.
CREATE INDEX call_attempts_open_idx ON call_attempts (created_at) WHERE ended_at IS NULL;
-- Deleting a number (every case re-import may) sets its attempts' phone_number_id to NULL; the
-- planner also joins candidate numbers to their last attempts.
CREATE INDEX call_attempts_phone_time_idx ON call_attempts (phone_number_id, created_at);
-- Abandon rates per campaign over the regulators' periods.
CREATE INDEX call_attempts_campaign_time_idx ON call_attempts (campaign_id, created_at);
-- Caller-ID rotation: each presented number's calls today and its recent answer rate.
CREATE INDEX call_attempts_caller_time_idx ON call_attempts (caller_id, created_at);

-- Numbers the network says do not exist (cause 1 "unallocated", which a carrier's SIP 404 or
-- 604 becomes, or 22 "number changed"), or that cannot exist (not valid in its country's
-- numbering plan, found on import): neither dialled nor texted again, for any case.
CREATE TABLE dead_numbers (
    e164        text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    reason      text NOT NULL,
    attempt_id  bigint REFERENCES call_attempts (id) ON DELETE SET NULL,  -- the call that showed it
    since       timestamptz NOT NULL
);

-- What a number look-up provider said of a number ([lookup]), kept so each number is asked about
-- once per `max_age_days`; a number it said is not valid is also a dead number.
CREATE TABLE number_lookups (
    e164          text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    provider      text NOT NULL,
    valid         boolean NOT NULL,
    line_type     text NOT NULL
                  CHECK (line_type IN ('mobile', 'landline', 'voip', 'toll_free', 'other',
                                       'unknown')),
    carrier       text,
    why           text,
    looked_up_at  timestamptz NOT NULL
);


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

-- A debtor's call handed over from one agent to another. The attempt's agent becomes the one
-- who took it; the one who handed it over may still record what was said before.
CREATE TABLE call_transfers (
    id             bigserial PRIMARY KEY,
    attempt_id     bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    from_agent_id  bigint REFERENCES agents (id) ON DELETE SET NULL,
    to_agent_id    bigint REFERENCES agents (id) ON DELETE SET NULL,
    at             timestamptz NOT NULL
);
CREATE INDEX call_transfers_attempt_idx ON call_transfers (attempt_id);
CREATE INDEX call_transfers_from_idx ON call_transfers (from_agent_id);

-- One row per file Asterisk writes (the mixed call, or each leg), named after its attempt, with
-- the moment it may be deleted (the campaign's retention) and when it was.
CREATE TABLE recordings (
    id            bigserial PRIMARY KEY,
    attempt_id    bigint NOT NULL REFERENCES call_attempts (id) ON DELETE CASCADE,
    name          text NOT NULL UNIQUE,      -- Asterisk's stored recording name
    leg           text NOT NULL CHECK (leg IN ('mixed', 'debtor', 'agent')),
    format        text NOT NULL DEFAULT 'wav',
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    delete_after  timestamptz NOT NULL,
    deleted_at    timestamptz
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


-- After the call ----------------------------------------------------------------------------

-- What an agent records after talking to a debtor, and what it means for the case.
CREATE TABLE dispositions (
    id              bigserial PRIMARY KEY,
    attempt_id      bigint REFERENCES call_attempts (id) ON DELETE SET NULL,
    case_id         bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    agent_id        bigint REFERENCES agents (id) ON DELETE SET NULL,
    code            text NOT NULL CHECK (code IN ('right_party', 'wrong_party', 'promise_to_pay',
                                                  'refused', 'dispute', 'callback',
                                                  'stop_calling')),
    promise_amount  numeric(14, 2),
    promise_date    date,
    callback_at     timestamptz,
    note            text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispositions_case_idx ON dispositions (case_id, created_at);
-- The screen pop joins a case's last calls to their dispositions.
CREATE INDEX dispositions_attempt_idx ON dispositions (attempt_id);

-- Promised to a debtor (by an agent, by the IVR, or offered to a caller who waited too long in
-- the queue), each with its due time, whom it is for, and what became of it.
CREATE TABLE callbacks (
    id              bigserial PRIMARY KEY,
    case_id         bigint REFERENCES cases (id) ON DELETE CASCADE,
    e164            text NOT NULL,
    due_at          timestamptz NOT NULL,
    owner_agent_id  bigint REFERENCES agents (id) ON DELETE SET NULL,
    owner_only      boolean NOT NULL DEFAULT false,
    priority        integer NOT NULL DEFAULT 0,
    source          text NOT NULL
                    CHECK (source IN ('agent', 'ivr', 'queue', 'abandoned', 'agent_lost',
                                      'widget')),
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'done', 'missed', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    channel_id      text,                -- the call that asked for it, if any
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX callbacks_due_idx ON callbacks (due_at) WHERE status = 'pending';

-- What the creditor reports paid on a case, or the payment provider confirms paid through the
-- engine's payment link: the dossier's "paid" and the reports' kept promises.
CREATE TABLE payments (
    id           bigserial PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    amount       numeric(14, 2) NOT NULL CHECK (amount > 0),
    paid_on      date NOT NULL,
    reference    text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    provider     text,            -- through the link: the provider, and its id for the payment
    provider_ref text,            -- (kept once, however often the provider reports it)
    CONSTRAINT payments_provider_named CHECK ((provider IS NULL) = (provider_ref IS NULL))
);
CREATE INDEX payments_case_idx ON payments (case_id, paid_on);
CREATE UNIQUE INDEX payments_provider_ref_idx ON payments (provider, provider_ref)
    WHERE provider_ref IS NOT NULL;


-- Supervision -------------------------------------------------------------------------------

-- Every use of supervision: who listened to, whispered to or barged in on whose call, when.
CREATE TABLE supervision_log (
    id             bigserial PRIMARY KEY,
    supervisor_id  bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    agent_id       bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    channel_id     text,                  -- the supervised call (the debtor's channel)
    action         text NOT NULL CHECK (action IN ('listen', 'whisper', 'barge', 'stop')),
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervision_log_at_idx ON supervision_log (at);

-- Every action a supervisor takes from the wallboard or the API (campaign start/stop/pause,
-- supervision), with what it was about.
CREATE TABLE supervisor_actions (
    id             bigserial PRIMARY KEY,
    supervisor_id  bigint REFERENCES agents (id) ON DELETE SET NULL,
    action         text NOT NULL,
    target         text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervisor_actions_at_idx ON supervisor_actions (at);


-- Conference rooms --------------------------------------------------------------------------

-- Rooms made through the API (rooms in the config file are not stored). PINs are scrypt hashes.
CREATE TABLE conference_rooms (
    name           text PRIMARY KEY,
    extension      text UNIQUE,
    did            text UNIQUE,
    pin            text,
    moderator_pin  text,
    moderator      text,                  -- an agent's login
    max_members    integer NOT NULL DEFAULT 10 CHECK (max_members > 0),
    tones          boolean NOT NULL DEFAULT true,
    created_by     bigint REFERENCES agents (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Invitation links to rooms. The link carries the id (signed); this row is the authority: how
-- many calls it may still cause, whether it was revoked.
CREATE TABLE room_invitations (
    id          text PRIMARY KEY,
    room        text NOT NULL,
    created_by  bigint REFERENCES agents (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at  timestamptz
);
CREATE INDEX room_invitations_room_idx ON room_invitations (room);
CREATE INDEX room_invitations_creator_idx ON room_invitations (created_by);

-- Every action on a room, by anyone: created, deleted, a number dialled, a member muted or
-- kicked, an invitation minted, revoked or used.
CREATE TABLE room_actions (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    room            text NOT NULL,
    action          text NOT NULL,
    target          text,
    agent_id        bigint REFERENCES agents (id) ON DELETE SET NULL,
    client_address  text
);
CREATE INDEX room_actions_at_idx ON room_actions (at);


-- Outbound dials ----------------------------------------------------------------------------

-- Every external dial the engine was asked for, allowed or refused, with who asked and why a
-- refusal was given. The hourly caps are counted from here (per agent and per link the allowed
-- dials, per address every ask).
CREATE TABLE outbound_dials (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    purpose         text NOT NULL,
    number          text NOT NULL,
    country         text NOT NULL,
    kind            text NOT NULL,
    allowed         boolean NOT NULL,
    reason          text NOT NULL,
    agent_id        bigint REFERENCES agents (id) ON DELETE SET NULL,
    invitation_id   text,
    client_address  text,
    room            text
);
CREATE INDEX outbound_dials_at_idx ON outbound_dials (at);
CREATE INDEX outbound_dials_agent_idx ON outbound_dials (agent_id, at) WHERE allowed;
CREATE INDEX outbound_dials_invitation_idx ON outbound_dials (invitation_id, at) WHERE allowed;
CREATE INDEX outbound_dials_address_idx ON outbound_dials (client_address, at);

-- Every request made through the creditor's website widget, taken or refused (with why), with
-- the address it came from: the widget's caps are counted from here (per address every request,
-- per number the call backs promised).
CREATE TABLE widget_requests (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('callback', 'call_now')),
    e164            text,
    case_id         bigint REFERENCES cases (id) ON DELETE SET NULL,
    allowed         boolean NOT NULL,
    reason          text NOT NULL,
    client_address  text NOT NULL,
    callback_id     bigint REFERENCES callbacks (id) ON DELETE SET NULL
);
CREATE INDEX widget_requests_address_idx ON widget_requests (client_address, at);
CREATE INDEX widget_requests_number_idx ON widget_requests (e164, at) WHERE allowed;


-- Messages and consent ----------------------------------------------------------------------

-- Every message, from the moment it is asked for: refused ones too (with the rule that refused
-- it), so the contact history shows what was not sent and why.
CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    case_id       bigint REFERENCES cases (id) ON DELETE SET NULL,
    channel       text NOT NULL CHECK (channel IN ('sms', 'email')),
    address       text NOT NULL,                 -- E.164 number or e-mail address
    template      text NOT NULL,
    language      text NOT NULL,
    subject       text,                          -- e-mail only
    body          text NOT NULL,                 -- as sent, opt-out line included
    parts         smallint,                      -- SMS only: as carriers count them
    encoding      text CHECK (encoding IS NULL OR encoding IN ('gsm7', 'ucs2')),
    status        text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'refused', 'sent', 'delivered', 'failed', 'replied')),
    refused_by    text,                          -- the rule, when refused
    provider_id   text,                          -- the SMTP Message-ID or the gateway's id
    error         text,
    asked_by      bigint REFERENCES agents (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    delivered_at  timestamptz,
    failed_at     timestamptz
);
CREATE INDEX messages_case_idx ON messages (case_id, created_at);
CREATE INDEX messages_provider_idx ON messages (provider_id) WHERE provider_id IS NOT NULL;

-- What each number or address agreed to or revoked, by which means and when. Never updated:
-- the evidence. The latest entry covering a channel decides (pbx_engine.messaging.consent).
CREATE TABLE consent_entries (
    id          bigserial PRIMARY KEY,
    address     text NOT NULL,                   -- E.164 number or lower-case e-mail address
    channels    text[] NOT NULL CHECK (channels <@ ARRAY['call', 'sms', 'email']::text[]
                                       AND cardinality(channels) > 0),
    consent     text NOT NULL CHECK (consent IN ('revoked', 'granted')),
    source      text NOT NULL CHECK (source IN ('sms_reply', 'email_reply', 'disposition',
                                                'supervisor', 'unsubscribe_link', 'import')),
    at          timestamptz NOT NULL,
    until       timestamptz,                     -- a revocation for a time only
    note        text NOT NULL DEFAULT '',
    case_id     bigint REFERENCES cases (id) ON DELETE SET NULL,
    entered_by  bigint REFERENCES agents (id) ON DELETE SET NULL,
    message_id  bigint REFERENCES messages (id) ON DELETE SET NULL,   -- the reply, if one
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consent_entries_address_idx ON consent_entries (address, at);

-- What debtors send back: an SMS from the gateway (an e-mail reply later), with the message it
-- answers (the latest one to that address) and what it said about consent, if a keyword.
CREATE TABLE message_replies (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL CHECK (channel IN ('sms', 'email')),
    address      text NOT NULL,                 -- who wrote: E.164 number or e-mail address
    to_address   text NOT NULL DEFAULT '',      -- where to: our sender number or mailbox
    body         text NOT NULL,
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,
    case_id      bigint REFERENCES cases (id) ON DELETE SET NULL,
    consent      text CHECK (consent IS NULL OR consent IN ('revoked', 'granted')),
    received_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    provider_id  text                           -- an e-mail's own Message-ID: kept once
);
CREATE INDEX message_replies_case_idx ON message_replies (case_id, received_at);
CREATE INDEX message_replies_address_idx ON message_replies (address, received_at);
CREATE UNIQUE INDEX message_replies_provider_idx ON message_replies (channel, provider_id)
    WHERE provider_id IS NOT NULL;

-- Answers to satisfaction surveys sent by SMS or e-mail after a conversation (a reply to a
-- survey template giving a score), with the agent and campaign of the case's last conversation;
-- and to the keypad survey a debtor hears when his agent ends the call, with that call.
CREATE TABLE survey_answers (
    id           bigserial PRIMARY KEY,
    reply_id     bigint UNIQUE REFERENCES message_replies (id) ON DELETE CASCADE,
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,   -- the survey
    template     text NOT NULL,               -- the message template, or call:<question>
    case_id      bigint REFERENCES cases (id) ON DELETE SET NULL,
    agent_id     bigint REFERENCES agents (id) ON DELETE SET NULL,
    campaign_id  bigint REFERENCES campaigns (id) ON DELETE SET NULL,
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    answered_at  timestamptz NOT NULL,
    attempt_id   bigint REFERENCES call_attempts (id) ON DELETE CASCADE,  -- a keypad answer's call
    CONSTRAINT survey_answers_one_source CHECK ((reply_id IS NULL) <> (attempt_id IS NULL))
);
CREATE INDEX survey_answers_agent_idx ON survey_answers (agent_id, answered_at);
CREATE UNIQUE INDEX survey_answers_call_idx ON survey_answers (attempt_id, template)
    WHERE attempt_id IS NOT NULL;

-- The ledger's say on one channel to one address at a given time: the latest entry covering the
-- channel, a revocation for a time that has passed left out. Inlined into the calling query.
CREATE FUNCTION latest_consent(p_address text, p_channel text, p_at timestamptz)
    RETURNS TABLE (consent text, until timestamptz)
    LANGUAGE sql STABLE
AS $$
    SELECT e.consent, e.until FROM consent_entries e
     WHERE e.address = p_address AND p_channel = ANY (e.channels) AND e.at <= p_at
       AND NOT (e.consent = 'revoked' AND e.until IS NOT NULL AND e.until <= p_at)
     ORDER BY e.at DESC, e.id DESC LIMIT 1
$$;

-- When a promise to pay is kept: the case's payments from the day it was made (in the centre's
-- zone) to three days after its date cover its amount (the daily report, the split report).
CREATE FUNCTION promise_kept(p_disposition bigint, p_zone text)
    RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT coalesce(sum(p.amount), 0) >= d.promise_amount
         FROM payments p
         WHERE p.case_id = d.case_id
           AND p.paid_on >= (d.created_at AT TIME ZONE p_zone)::date
           AND p.paid_on <= d.promise_date + 3),
        false)
    FROM dispositions d
    WHERE d.id = p_disposition AND d.code = 'promise_to_pay'
$$;


-- Contact strategies ------------------------------------------------------------------------

-- Which strategy (and side of a champion/challenger split) each case is on, kept so that
-- reports count a case where it was; and each step a case has had.
CREATE TABLE strategy_cases (
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    split        text NOT NULL,
    side         text NOT NULL CHECK (side IN ('champion', 'challenger')),
    strategy     text NOT NULL,
    since        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, campaign_id, split)
);

CREATE TABLE strategy_steps (
    case_id      bigint NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    strategy     text NOT NULL,
    step         text NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('sent', 'refused')),
    message_id   bigint REFERENCES messages (id) ON DELETE SET NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, strategy, step)
);


-- Several engines ------------------------------------------------------------------------------

-- Which engine dials a campaign: the holder of its lease, until it expires. Every take by a new
-- runner raises the fencing token, which the insert that places a call checks.
CREATE TABLE campaign_leases (
    campaign_id  bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    holder       text NOT NULL,
    token        bigint NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- The engines running, each under the mark of its current run (its beat on the PBX carries it);
-- `taken_by`: the engine that found its beat standing still and took over its calls and agents.
CREATE TABLE engine_runs (
    engine      text PRIMARY KEY,
    app         text NOT NULL,
    life        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    taken_by    text,
    taken_at    timestamptz
);

CREATE TABLE browser_phones (
    endpoint   text PRIMARY KEY,
    engine     text NOT NULL,
    life       text NOT NULL,
    login      text,
    made_for   text,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((login IS NULL) <> (made_for IS NULL))
);
CREATE INDEX browser_phones_engine ON browser_phones (engine);

CREATE TABLE agent_holders (
    agent_id  bigint PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    engine    text NOT NULL,
    since     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_holders_engine ON agent_holders (engine);
