-- API access: each agent holds a token; only its SHA-256 is stored.
ALTER TABLE agents ADD COLUMN token_sha256 text UNIQUE;
