-- The Asterisk node each call was placed on (or came in through), when the engine drives
-- several: after a node's events websocket comes back, only that node's open calls are
-- compared with what it still carries. Empty on calls from before.

ALTER TABLE call_attempts
    ADD COLUMN node text;
