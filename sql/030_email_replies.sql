-- E-mail replies read from the centre's mailbox (IMAP): each kept once, by its own Message-ID,
-- however often the mailbox shows it (a reply read, then the engine stopped before it could mark
-- it seen, is read again and not kept twice).
ALTER TABLE message_replies ADD COLUMN provider_id text;
CREATE UNIQUE INDEX message_replies_provider_idx ON message_replies (channel, provider_id)
    WHERE provider_id IS NOT NULL;
