-- Which engine holds each logged-in agent (his shift leg in its ARI app, his state in its
-- memory): one engine at a time. A login on another engine is refused while the holder's run is
-- on record and nobody has taken it over; an engine that takes another over holds the agents it
-- adopts and lets the rest go, and a restarted engine keeps only those it adopts.
CREATE TABLE agent_holders (
    agent_id  bigint PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    engine    text NOT NULL,
    since     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_holders_engine ON agent_holders (engine);
