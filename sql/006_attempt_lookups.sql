-- Indexes that the queries which arrived after 001 need, on the tables that grow without end.

-- The planner reads a campaign's candidate numbers with their last month of attempts (joined by
-- number). Deleting a number, which every case re-import may do, sets its attempts'
-- phone_number_id to NULL, and without this index each delete scans every attempt ever made.
CREATE INDEX call_attempts_phone_time_idx ON call_attempts (phone_number_id, created_at);

-- Abandon rates per campaign over the regulators' periods (a day, 24 hours, 30 days).
CREATE INDEX call_attempts_campaign_time_idx ON call_attempts (campaign_id, created_at);

-- The screen pop joins a case's last calls to their dispositions.
CREATE INDEX dispositions_attempt_idx ON dispositions (attempt_id);
