-- Answered calls that were not a person are told apart: a machine, a line that answered in
-- silence, a fax. On a machine the campaign may leave a message after the greeting; when it was
-- played is stored with the attempt.

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check
    CHECK (outcome IN ('pending', 'human', 'machine', 'silence', 'fax', 'busy', 'no_answer',
                       'rejected', 'failed', 'abandoned', 'cancelled'));

ALTER TABLE call_attempts ADD COLUMN message_started_at timestamptz;
ALTER TABLE call_attempts ADD COLUMN message_ended_at   timestamptz;
