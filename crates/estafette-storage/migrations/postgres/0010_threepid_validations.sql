-- Proofs of control of an email address in progress: a token emailed to the address (only its
-- hash kept), submitted back before it expires, for registration, password reset or adding the
-- address to an account.
CREATE TABLE threepid_validations (
    sid           TEXT PRIMARY KEY NOT NULL,
    client_secret TEXT NOT NULL,
    medium        TEXT NOT NULL,
    address       TEXT NOT NULL,
    purpose       TEXT NOT NULL,
    token_hash    TEXT NOT NULL,
    send_attempt  BIGINT NOT NULL,
    expires_ts    BIGINT NOT NULL,
    validated_ts  BIGINT
);
CREATE UNIQUE INDEX threepid_validations_by_secret
    ON threepid_validations (client_secret, address, purpose);
