CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    deactivated   INTEGER NOT NULL DEFAULT 0,
    created_ts    INTEGER NOT NULL
);

CREATE TABLE devices (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    display_name TEXT,
    last_seen_ts INTEGER,
    last_seen_ip TEXT,
    created_ts   INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE refresh_tokens (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash     TEXT NOT NULL UNIQUE,
    user_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    predecessor_id INTEGER,
    created_ts     INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);
CREATE INDEX refresh_tokens_predecessor ON refresh_tokens (predecessor_id);

CREATE TABLE access_tokens (
    token_hash       TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    expires_ts       INTEGER,
    refresh_token_id INTEGER,
    created_ts       INTEGER NOT NULL
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id);

CREATE TABLE profiles (
    user_id    TEXT NOT NULL,
    field      TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (user_id, field)
);

-- room_id is '' for global account data, so the key stays a plain primary key.
CREATE TABLE account_data (
    user_id      TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    data_type    TEXT NOT NULL,
    content_json TEXT NOT NULL,
    updated_ts   INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, data_type)
);

CREATE TABLE filters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     TEXT NOT NULL,
    filter_json TEXT NOT NULL
);
CREATE INDEX filters_user ON filters (user_id);

CREATE TABLE uia_sessions (
    session_id     TEXT PRIMARY KEY NOT NULL,
    action         TEXT NOT NULL,
    user_id        TEXT,
    completed_json TEXT NOT NULL,
    created_ts     INTEGER NOT NULL
);

CREATE TABLE registration_nonces (
    nonce      TEXT PRIMARY KEY NOT NULL,
    created_ts INTEGER NOT NULL
);
