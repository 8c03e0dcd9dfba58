-- Which engine placed a campaign's call, and under which of its lease's tokens: with several
-- engines on one database, the record shows who dialled what (a case dialled by two engines in
-- the same minute would show here). Empty for calls placed without a lease (one-off calls,
-- callbacks, inbound).

ALTER TABLE call_attempts
    ADD COLUMN placed_by   text,
    ADD COLUMN lease_token bigint;
