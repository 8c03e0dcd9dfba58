-- Which engine placed (or took) each call, and for a campaign's call the lease token it was
-- placed under. With several engines on one database and one PBX, an engine looks after its own
-- calls only (on reconnecting it settles those whose channels are gone: another engine's call
-- may not be placed yet), and the record shows who dialled what. Empty on calls from before.

ALTER TABLE call_attempts
    ADD COLUMN placed_by   text,
    ADD COLUMN lease_token bigint;
