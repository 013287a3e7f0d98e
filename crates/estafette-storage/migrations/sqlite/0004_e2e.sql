-- A device's identity keys, as uploaded and signed by the device (immutable once set).
CREATE TABLE device_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- One-time keys are handed out once: claiming deletes the row.
CREATE TABLE one_time_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, algorithm, key_id)
);

-- The fallback key per algorithm, given out when one-time keys run out.
CREATE TABLE fallback_keys (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    key_json  TEXT NOT NULL,
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- Cross-signing keys (master, self_signing, user_signing) with the signatures gathered on them.
CREATE TABLE cross_signing_keys (
    user_id  TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Users whose devices or cross-signing keys changed, at stream positions.
CREATE TABLE device_list_changes (
    stream_id INTEGER PRIMARY KEY NOT NULL,
    user_id   TEXT NOT NULL
);
CREATE INDEX device_list_changes_user ON device_list_changes (user_id, stream_id);

-- Server-side key backup (spec: "Server-side key backups"): versions and the sessions in them.
CREATE TABLE backup_versions (
    user_id        TEXT NOT NULL,
    version        INTEGER NOT NULL,
    algorithm      TEXT NOT NULL,
    auth_data_json TEXT NOT NULL,
    etag           INTEGER NOT NULL DEFAULT 0,
    deleted        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE backup_keys (
    user_id             TEXT NOT NULL,
    version             INTEGER NOT NULL,
    room_id             TEXT NOT NULL,
    session_id          TEXT NOT NULL,
    first_message_index INTEGER NOT NULL,
    forwarded_count     INTEGER NOT NULL,
    is_verified         INTEGER NOT NULL,
    session_data_json   TEXT NOT NULL,
    PRIMARY KEY (user_id, version, room_id, session_id)
);

-- A user's dehydrated device (MSC3814): a device kept on the server to receive room keys
-- while none of the user's clients is online.
CREATE TABLE dehydrated_devices (
    user_id          TEXT PRIMARY KEY NOT NULL,
    device_id        TEXT NOT NULL,
    device_data_json TEXT NOT NULL
);
