-- Caller-ID rotation counts each presented number's calls today and judges its answer rate
-- over the last days: both read the attempts by caller ID and time.
CREATE INDEX call_attempts_caller_time_idx ON call_attempts (caller_id, created_at);
