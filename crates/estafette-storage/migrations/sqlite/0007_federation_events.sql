-- Events this server holds without placing them in a timeline: the state and auth chain
-- received when joining a room over federation, and soft-failed events.
CREATE TABLE event_outliers (
    event_id TEXT PRIMARY KEY NOT NULL,
    room_id  TEXT NOT NULL,
    json     TEXT NOT NULL
);

-- The stripped state another server sent with an invite to a room this server is not in.
CREATE TABLE invite_states (
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    state   TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);

-- What each destination server still has to receive, oldest first. A row is deleted once the
-- destination acknowledged the transaction carrying it, so nothing is lost across restarts.
CREATE TABLE federation_outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL
);
CREATE INDEX federation_outbox_destination ON federation_outbox (destination, id);

-- Destinations that failed: when to try again.
CREATE TABLE federation_backoff (
    destination TEXT PRIMARY KEY NOT NULL,
    failures    INTEGER NOT NULL,
    retry_at    INTEGER NOT NULL
);
