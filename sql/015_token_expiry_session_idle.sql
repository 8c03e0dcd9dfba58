-- API tokens expire: each is issued with an expiry, and one past it is refused. Tokens issued
-- before this migration keep working for the default lifetime (90 days) from now.
ALTER TABLE agents ADD COLUMN token_expires_at timestamptz;
UPDATE agents SET token_expires_at = now() + interval '90 days' WHERE token_sha256 IS NOT NULL;

-- A browser session left unused (no request, no open page) ends before its lifetime does.
ALTER TABLE browser_sessions ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now();
