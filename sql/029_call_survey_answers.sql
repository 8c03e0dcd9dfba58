-- Answers to the keypad survey a debtor hears when his agent ends the call (a campaign's
-- [survey]): kept beside the SMS and e-mail surveys' answers, one row per question answered,
-- with the call's attempt instead of a reply. `template` names the survey: the message
-- template for a reply, `call:<question>` for a keypad answer.
ALTER TABLE survey_answers ALTER COLUMN reply_id DROP NOT NULL;
ALTER TABLE survey_answers
    ADD COLUMN attempt_id bigint REFERENCES call_attempts (id) ON DELETE CASCADE,
    ADD CONSTRAINT survey_answers_one_source CHECK ((reply_id IS NULL) <> (attempt_id IS NULL));
CREATE UNIQUE INDEX survey_answers_call_idx ON survey_answers (attempt_id, template)
    WHERE attempt_id IS NOT NULL;
