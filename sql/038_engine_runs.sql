-- The engines running on this database, each under the mark of its current run (the one its beat
-- on the PBX carries). An engine that finds another's beat standing still takes over that run's
-- calls and agents and says so here (`taken_by`): one UPDATE, so of two engines finding it at
-- once one does, and a run restarted since (a new mark) is never taken for the old one. A clean
-- stop removes the row; a restart replaces it.
CREATE TABLE engine_runs (
    engine      text PRIMARY KEY,
    app         text NOT NULL,
    life        text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    taken_by    text,
    taken_at    timestamptz
);
