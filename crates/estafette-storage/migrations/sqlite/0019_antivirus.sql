-- The antivirus and the media repository's rest: each file's content hash (the bytes are kept
-- once per hash, and a verdict is shared by every copy of them), uploads created before their
-- bytes come (pending until an expiry), the verdicts reached and with which signature database
-- version, and every detection kept for the operator (who, when, which signature).
ALTER TABLE media ADD COLUMN content_hash TEXT;
ALTER TABLE media ADD COLUMN pending_until BIGINT;
CREATE INDEX media_by_uploader ON media (uploader);

CREATE TABLE antivirus_verdicts (
    content_hash   TEXT PRIMARY KEY NOT NULL,
    engine_version TEXT NOT NULL,
    -- The signature found; NULL when clean.
    infected_by    TEXT,
    scanned_ts     BIGINT NOT NULL
);

CREATE TABLE antivirus_detections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    content_hash TEXT NOT NULL,
    signature    TEXT NOT NULL,
    -- The mxc:// URI of the media, when the file is one.
    media        TEXT,
    -- Who uploaded or asked for it: a local user, or another server.
    requester      TEXT,
    -- How the file came: upload, remote_fetch (from another server), download, federation_download.
    source       TEXT NOT NULL,
    detected_ts  BIGINT NOT NULL
);
CREATE INDEX antivirus_detections_by_time ON antivirus_detections (detected_ts);
