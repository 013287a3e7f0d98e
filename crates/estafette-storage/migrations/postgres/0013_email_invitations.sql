-- Invitations to rooms sent to email addresses (m.room.third_party_invite, state key = token):
-- kept until the address is bound to an account, which they then invite, or they expire.
CREATE TABLE email_invitations (
    token        TEXT PRIMARY KEY NOT NULL,
    room_id      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    address      TEXT NOT NULL,
    display_name TEXT NOT NULL,
    created_ts   BIGINT NOT NULL,
    expires_ts   BIGINT NOT NULL
);
CREATE INDEX email_invitations_by_address ON email_invitations (address);
