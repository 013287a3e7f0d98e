-- Rendezvous sessions (MSC4388, and MSC4108's earlier wire form): one payload two devices
-- overwrite in turn while one signs the other in by QR code. Short-lived.
CREATE TABLE rendezvous_sessions (
    id         TEXT PRIMARY KEY,
    data       TEXT NOT NULL,
    token      TEXT NOT NULL,
    updated_ts BIGINT NOT NULL,
    expires_ts BIGINT NOT NULL
);
CREATE INDEX rendezvous_sessions_expiry ON rendezvous_sessions (expires_ts);
