-- What users reported to the server's administrators: an event, a room or a user.
CREATE TABLE reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    room_id       TEXT,
    event_id      TEXT,
    reported_user TEXT,
    reporter      TEXT NOT NULL,
    reason        TEXT NOT NULL,
    received_ts   BIGINT NOT NULL
);
