-- A call Asterisk refused or never answered before anything was dialled (it was shutting down,
-- or out of reach) stays on record as 'not_placed': nothing rang, so the planner counts it
-- toward no retry rule or attempt cap, and the case is dialled again once Asterisk is back.

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IN ('pending', 'human', 'machine', 'silence', 'fax', 'busy', 'no_answer',
                       'rejected', 'failed', 'abandoned', 'cancelled', 'not_placed'));
