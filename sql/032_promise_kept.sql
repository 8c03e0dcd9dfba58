-- When a promise to pay is kept: the case's payments from the day it was made (in the centre's
-- zone) to three days after its date cover its amount. One rule for the daily report and the
-- champion/challenger comparison, which counted it two ways (the latter from the promise's day
-- in UTC, and any payment at all).
CREATE FUNCTION promise_kept(p_disposition bigint, p_zone text)
    RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT coalesce(sum(p.amount), 0) >= d.promise_amount
         FROM payments p
         WHERE p.case_id = d.case_id
           AND p.paid_on >= (d.created_at AT TIME ZONE p_zone)::date
           AND p.paid_on <= d.promise_date + 3),
        false)
    FROM dispositions d
    WHERE d.id = p_disposition AND d.code = 'promise_to_pay'
$$;
