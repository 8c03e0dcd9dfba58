-- A debtor whose agent's softphone went mid-call (no audio any more, a crash) is told so and
-- owed a call back: a source of its own, so reports tell it from an abandoned call's.
ALTER TABLE callbacks DROP CONSTRAINT callbacks_source_check;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_source_check
    CHECK (source IN ('agent', 'ivr', 'queue', 'abandoned', 'agent_lost'));
