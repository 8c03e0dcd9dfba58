-- What an operator last told each campaign to do (start, pause, stop), so that an engine
-- started again after a crash or an upgrade picks the floor up where it was instead of leaving
-- every agent idle until someone notices. A shutdown's drain does not change it.
ALTER TABLE campaigns
    ADD COLUMN run_state text NOT NULL DEFAULT 'stopped'
        CHECK (run_state IN ('stopped', 'running', 'paused')),
    ADD COLUMN run_state_at timestamptz;
