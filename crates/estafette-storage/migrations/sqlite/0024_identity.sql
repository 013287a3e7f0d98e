-- This server as its users' identity server: the hash clients look addresses up by (computed
-- with the server's pepper when first needed), and the identity service's access tokens.
ALTER TABLE user_threepids ADD COLUMN lookup_hash TEXT;
CREATE INDEX user_threepids_by_lookup_hash ON user_threepids (lookup_hash);
CREATE TABLE identity_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
