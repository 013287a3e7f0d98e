-- Which process of the server delivers to each destination, until when (see
-- FederationOutboxRepository::acquire_lease).
CREATE TABLE federation_leases (
    destination TEXT PRIMARY KEY NOT NULL,
    owner       TEXT NOT NULL,
    expires_ts  BIGINT NOT NULL
);

-- The server's own signing key (`ed25519 <version> <seed>`), so that every process of the
-- server signs with the same one. One row at most.
CREATE TABLE local_signing_key (
    id       INTEGER PRIMARY KEY NOT NULL CHECK (id = 0),
    key_text TEXT NOT NULL
);

-- Rate-limit token buckets, shared by every process of the server.
CREATE TABLE rate_limit_buckets (
    bucket     TEXT PRIMARY KEY NOT NULL,
    tokens     DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL
);
