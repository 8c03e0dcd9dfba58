-- Agents' softphone accounts the engine manages: it pushes their PJSIP endpoint, aor and auth
-- to Asterisk (astdb) and pushes them again when Asterisk has lost them. The SIP password is
-- shown once and never stored; md5_cred is the digest credential Asterisk checks a REGISTER
-- against (MD5 of "endpoint:realm:password"), which is all a new push needs.
CREATE TABLE softphone_accounts (
    endpoint    text PRIMARY KEY,
    agent_id    bigint NOT NULL UNIQUE REFERENCES agents (id) ON DELETE CASCADE,
    realm       text NOT NULL,
    md5_cred    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
