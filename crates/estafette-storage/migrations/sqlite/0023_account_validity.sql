-- Account validity (TCHAP.md §6): when each account expires, how many renewal emails of the
-- current period went out (claimed before sending, so that no email goes twice), and whether
-- the account gets them at all.
CREATE TABLE account_validity (
    user_id        TEXT PRIMARY KEY NOT NULL,
    expiration_ts  BIGINT NOT NULL,
    emails_sent    BIGINT NOT NULL DEFAULT 0,
    renewal_emails BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX account_validity_by_expiration ON account_validity (expiration_ts);
-- The links of renewal emails: only their hash kept; used once the account is renewed.
CREATE TABLE account_renewal_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    used_ts    BIGINT
);
CREATE INDEX account_renewal_tokens_by_user ON account_renewal_tokens (user_id);
