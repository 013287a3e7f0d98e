-- What each event means for each member's notifications, from their push rules.
CREATE TABLE event_push_actions (
    user_id         TEXT NOT NULL,
    room_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    thread_id       TEXT NOT NULL,
    notify          INTEGER NOT NULL,
    highlight       INTEGER NOT NULL,
    PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, stream_ordering);

CREATE TABLE pushers (
    user_id             TEXT NOT NULL,
    app_id              TEXT NOT NULL,
    pushkey             TEXT NOT NULL,
    kind                TEXT NOT NULL,
    app_display_name    TEXT NOT NULL,
    device_display_name TEXT NOT NULL,
    profile_tag         TEXT,
    lang                TEXT NOT NULL,
    data_json           TEXT NOT NULL,
    device_id           TEXT,
    created_ts          INTEGER NOT NULL,
    PRIMARY KEY (app_id, pushkey, user_id)
);
CREATE INDEX pushers_user ON pushers (user_id);

ALTER TABLE room_memberships ADD COLUMN display_name TEXT;

CREATE TABLE presence (
    user_id        TEXT PRIMARY KEY NOT NULL,
    state          TEXT NOT NULL,
    status_msg     TEXT,
    last_active_ts INTEGER NOT NULL,
    stream_id      INTEGER NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);

-- A user who forgot a room no longer sees it, until their membership changes again.
ALTER TABLE room_memberships ADD COLUMN forgotten INTEGER NOT NULL DEFAULT 0;

-- Messages sent straight to devices, kept until the device's next sync acknowledges them.
CREATE TABLE to_device_messages (
    stream_id    INTEGER PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    sender       TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    content_json TEXT NOT NULL
);
CREATE INDEX to_device_recipient ON to_device_messages (user_id, device_id, stream_id);

CREATE TABLE to_device_transactions (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);
