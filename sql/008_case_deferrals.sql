-- The planner fetches a campaign's due cases a batch at a time. A case it could not call (every
-- number waiting to retry, night where the debtor lives) is marked with the moment it may be
-- due again, so the next batch reaches the cases behind it instead of fetching it again.
-- 'infinity' means "not while things stay as they are"; importing the case again, a
-- disposition, or the campaign's (re)start clears the mark.
ALTER TABLE cases ADD COLUMN dial_after timestamptz;

-- A case an agent passed over in preview is not offered again until this moment, whoever asks
-- and whether or not the engine restarts meanwhile.
ALTER TABLE cases ADD COLUMN skipped_until timestamptz;
ALTER TABLE cases ADD COLUMN skipped_by bigint REFERENCES agents (id) ON DELETE SET NULL;
