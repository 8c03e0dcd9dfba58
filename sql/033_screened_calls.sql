-- A phone's call-screening assistant that answered the campaign's identity line: the call is
-- on record as screened from that moment (screened_at), whatever follows. Its outcome is
-- 'screened' when the person did not come to the phone, 'human' (or an abandon) when he did.

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IN ('pending', 'human', 'machine', 'screened', 'silence', 'fax', 'busy',
                       'no_answer', 'rejected', 'failed', 'abandoned', 'cancelled',
                       'not_placed'));
ALTER TABLE call_attempts ADD COLUMN screened_at timestamptz;
