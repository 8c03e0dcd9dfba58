-- Agents can be disabled: no token, session or sign-in works for them, and the invitation
-- links they minted die with them (revoked when they are disabled).
ALTER TABLE agents ADD COLUMN disabled_at timestamptz;

-- Invitation links to conference rooms. The link carries the id (signed); this row is the
-- authority: how many calls it may still cause, whether it was revoked. Deleting a room deletes
-- its links, so a room made again under the same name starts without any.
CREATE TABLE room_invitations (
    id          text PRIMARY KEY,
    room        text NOT NULL,
    created_by  bigint REFERENCES agents (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    uses        integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
    revoked_at  timestamptz
);
CREATE INDEX room_invitations_room_idx ON room_invitations (room);
CREATE INDEX room_invitations_creator_idx ON room_invitations (created_by);

-- Every external dial the engine was asked for, allowed or refused, with who asked (an agent,
-- an invitation link and the client's address) and why a refusal was given. The hourly caps
-- are counted from here (per agent and per link the allowed dials, per address every ask).
CREATE TABLE outbound_dials (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    purpose         text NOT NULL,
    number          text NOT NULL,
    country         text NOT NULL,
    kind            text NOT NULL,
    allowed         boolean NOT NULL,
    reason          text NOT NULL,
    agent_id        bigint REFERENCES agents (id) ON DELETE SET NULL,
    invitation_id   text,
    client_address  text,
    room            text
);
CREATE INDEX outbound_dials_at_idx ON outbound_dials (at);
CREATE INDEX outbound_dials_agent_idx ON outbound_dials (agent_id, at) WHERE allowed;
CREATE INDEX outbound_dials_invitation_idx ON outbound_dials (invitation_id, at) WHERE allowed;
CREATE INDEX outbound_dials_address_idx ON outbound_dials (client_address, at);

-- Every action on a conference room, by anyone (agents moderate their rooms too): created,
-- deleted, a number dialled, a member muted or kicked, an invitation minted, revoked or used.
CREATE TABLE room_actions (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    room            text NOT NULL,
    action          text NOT NULL,
    target          text,
    agent_id        bigint REFERENCES agents (id) ON DELETE SET NULL,
    client_address  text
);
CREATE INDEX room_actions_at_idx ON room_actions (at);

-- Room PINs are stored as scrypt hashes from now on; the engine hashes the plain ones it
-- finds (rooms made before this) when it loads them.
