-- Single sign-on for clients that do not speak OAuth 2.0 (m.login.sso): an upstream sign-in
-- may end at the client's redirect URL instead of this server's authorization request, with a
-- short-lived, single-use login token (m.login.token), which /login/get_token also issues.
ALTER TABLE oauth_upstream_sessions ADD COLUMN sso_redirect TEXT;

CREATE TABLE login_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX login_tokens_expiry ON login_tokens (expires_ts);
