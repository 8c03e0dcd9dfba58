-- An agent's "stop calling me": a disposition of its own, which also enters the consent ledger
-- (calls revoked for the number dialled).
ALTER TABLE dispositions DROP CONSTRAINT dispositions_code_check;
ALTER TABLE dispositions ADD CONSTRAINT dispositions_code_check
    CHECK (code IN ('right_party', 'wrong_party', 'promise_to_pay', 'refused', 'dispute',
                    'callback', 'stop_calling'));
