-- Incoming webhooks: each bound to a room and posting as its own user; the token that is
-- its URL is kept only as a SHA-256 digest.
CREATE TABLE webhooks (
    hook_id      TEXT PRIMARY KEY NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    room_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    format       TEXT NOT NULL,
    msgtype      TEXT NOT NULL,
    sender       TEXT NOT NULL,
    creator      TEXT NOT NULL,
    created_ts   BIGINT NOT NULL
);
CREATE INDEX webhooks_room ON webhooks (room_id);
