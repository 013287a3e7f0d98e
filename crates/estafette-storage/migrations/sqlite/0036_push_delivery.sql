-- Push delivery: each HTTP pusher's place in its user's notifications (the stream position
-- of the last one handled), its failures and back-off, and the claim of the process sending.
ALTER TABLE pushers ADD COLUMN delivered_stream BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pushers ADD COLUMN failing_since BIGINT;
ALTER TABLE pushers ADD COLUMN backoff_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pushers ADD COLUMN retry_ts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pushers ADD COLUMN claimed_ts BIGINT;
-- Pushers set before this start from now, not from every past notification.
UPDATE pushers SET delivered_stream = (SELECT COALESCE(MAX(stream_ordering), 0) FROM events);
-- The delivery loop looks for pushers due (retries first): by index, not by scan.
CREATE INDEX pushers_retry ON pushers (retry_ts);
