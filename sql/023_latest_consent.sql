-- The consent ledger's say on one channel to one address at a given time, in one place for
-- every query that needs it: the latest entry covering the channel, a revocation for a time
-- that has passed left out (pbx_engine.messaging.consent decides alike). SQL, STABLE, one
-- SELECT and not STRICT, so the planner inlines it into the calling query and the address
-- index still serves it.
CREATE FUNCTION latest_consent(p_address text, p_channel text, p_at timestamptz)
    RETURNS TABLE (consent text, until timestamptz)
    LANGUAGE sql STABLE
AS $$
    SELECT e.consent, e.until FROM consent_entries e
     WHERE e.address = p_address AND p_channel = ANY (e.channels) AND e.at <= p_at
       AND NOT (e.consent = 'revoked' AND e.until IS NOT NULL AND e.until <= p_at)
     ORDER BY e.at DESC, e.id DESC LIMIT 1
$$;
