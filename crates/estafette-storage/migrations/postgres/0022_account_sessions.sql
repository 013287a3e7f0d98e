-- The account management page (OAuth 2.0 "Account management"): browser sessions of a user
-- signed in there (a cookie, its hash kept), and the cross-signing resets a user approved
-- there, which the next key upload may use once (the m.oauth UIA stage).
CREATE TABLE account_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX account_sessions_expiry ON account_sessions (expires_ts);

CREATE TABLE cross_signing_reset_approvals (
    user_id    TEXT PRIMARY KEY NOT NULL,
    expires_ts BIGINT NOT NULL
);
