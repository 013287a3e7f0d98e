-- OAuth 2.0 device authorization grants (RFC 8628): a device without a browser shows a user
-- code, the user approves it on another device's browser, and the device polls for its
-- tokens with the device code (hashed), which is exchanged once.
CREATE TABLE oauth_device_grants (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_ts       BIGINT NOT NULL,
    expires_ts       BIGINT NOT NULL,
    user_id          TEXT,
    denied           BIGINT NOT NULL DEFAULT 0,
    last_poll_ts     BIGINT NOT NULL DEFAULT 0,
    exchanged_ts     BIGINT
);
CREATE INDEX oauth_device_grants_expiry ON oauth_device_grants (expires_ts);
