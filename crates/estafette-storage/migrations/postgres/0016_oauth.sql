-- This server as its own OAuth 2.0 authorization server (spec v1.15): clients registered
-- dynamically, and the authorization code grants (a request, then the user's sign-in and its
-- code, hashed, exchanged once for tokens).
CREATE TABLE oauth_clients (
    client_id     TEXT PRIMARY KEY NOT NULL,
    metadata_json TEXT NOT NULL,
    created_ts    BIGINT NOT NULL
);

CREATE TABLE oauth_grants (
    id             TEXT PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT,
    code_challenge TEXT NOT NULL,
    response_mode  TEXT NOT NULL,
    prompt         TEXT,
    created_ts     BIGINT NOT NULL,
    user_id        TEXT,
    code_hash      TEXT UNIQUE,
    completed_ts   BIGINT,
    exchanged_ts   BIGINT
);
CREATE INDEX oauth_grants_created ON oauth_grants (created_ts);

-- Sign-ins through the upstream OpenID Connect provider: each waits for the provider's
-- callback with its state (used once), nonce and PKCE verifier.
CREATE TABLE oauth_upstream_sessions (
    state         TEXT PRIMARY KEY NOT NULL,
    grant_id      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    created_ts    BIGINT NOT NULL
);
CREATE INDEX oauth_upstream_sessions_created ON oauth_upstream_sessions (created_ts);

-- Accounts linked to the provider's subjects on their first sign-in.
CREATE TABLE oauth_upstream_links (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
