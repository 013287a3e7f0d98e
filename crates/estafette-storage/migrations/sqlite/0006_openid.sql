-- OpenID tokens a user hands to a third party (a widget, a call service), which checks them
-- with this server over federation. Only their SHA-256 digests are stored.
CREATE TABLE openid_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    expires_ts INTEGER NOT NULL
);
CREATE INDEX openid_tokens_by_expiry ON openid_tokens (expires_ts);
