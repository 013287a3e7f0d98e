-- Other servers' signing keys, fetched from them and kept until they expire.
CREATE TABLE server_signing_keys (
    server_name    TEXT NOT NULL,
    key_id         TEXT NOT NULL,
    key_base64     TEXT NOT NULL,
    valid_until_ts INTEGER NOT NULL,
    PRIMARY KEY (server_name, key_id)
);
