-- Which engine dials a campaign: the holder of its lease, until the lease expires. Every take
-- by a new runner raises the fencing token; the insert that places a call checks it, so an
-- engine that lost its lease (cut off from the database, or paused) cannot place one more call
-- for the campaign after another engine has taken it.

CREATE TABLE campaign_leases (
    campaign_id  bigint PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    holder       text NOT NULL,                -- the engine's name ([engine] name)
    token        bigint NOT NULL,              -- the fencing token, raised by every new take
    expires_at   timestamptz NOT NULL
);
