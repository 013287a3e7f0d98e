-- Which process of the server delivers to each destination, until when (see
-- FederationOutboxRepository::acquire_lease).
CREATE TABLE federation_leases (
    destination TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    expires_ts  INTEGER NOT NULL
);

-- The server's own signing key (`ed25519 <version> <seed>`), so that every process of the
-- server signs with the same one. One row at most.
CREATE TABLE local_signing_key (
    id       INTEGER PRIMARY KEY NOT NULL CHECK (id = 0),
    key_text TEXT NOT NULL
);

-- Rate-limit token buckets, when several processes share the limits (PostgreSQL).
CREATE TABLE rate_limit_buckets (
    bucket     TEXT PRIMARY KEY NOT NULL,
    tokens     REAL NOT NULL,
    updated_ms INTEGER NOT NULL
);
