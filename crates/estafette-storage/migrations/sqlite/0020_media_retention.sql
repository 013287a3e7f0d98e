-- Other servers' media is kept while it is asked for: when each piece of media was last
-- served, so that what nobody asked for in the retention period can be deleted (and fetched
-- again if it ever is).
ALTER TABLE media ADD COLUMN last_access_ts BIGINT NOT NULL DEFAULT 0;
UPDATE media SET last_access_ts = created_ts;
CREATE INDEX media_by_last_access ON media (last_access_ts);
CREATE INDEX media_by_content ON media (content_hash);
