-- A hook may take posts only from some addresses (a JSON array of CIDR ranges, '[]' for
-- any) and only until it expires (NULL: never).
ALTER TABLE webhooks ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
ALTER TABLE webhooks ADD COLUMN expires_ts BIGINT;
