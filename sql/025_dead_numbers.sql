-- Numbers the network says do not exist (an attempt ended with cause 1 "unallocated", which a
-- carrier's SIP 404 or 604 becomes, or 22 "number changed"), or that cannot exist (not valid in
-- its country's numbering plan, found on import). Neither dialled nor texted again, for any
-- case, until the row is deleted (a number can be given out anew).
CREATE TABLE dead_numbers (
    e164        text PRIMARY KEY CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    reason      text NOT NULL,
    attempt_id  bigint REFERENCES call_attempts (id) ON DELETE SET NULL,  -- the call that showed it
    since       timestamptz NOT NULL
);
