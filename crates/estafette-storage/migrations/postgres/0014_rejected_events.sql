-- Events received from other servers and rejected (by the auth rules against their own auth
-- events or the state before them, or by the room's access rules): never state, never shown,
-- never served; kept so that events built on them are checked against the state before them.
CREATE TABLE rejected_events (
    event_id TEXT PRIMARY KEY NOT NULL,
    room_id  TEXT NOT NULL,
    json     TEXT NOT NULL,
    reason   TEXT NOT NULL
);
