-- Media: what this server's users uploaded (origin = this server) and other servers' media
-- fetched for local users (a cache). The bytes live in files; this is what describes them.
CREATE TABLE media (
    origin       TEXT NOT NULL,
    media_id     TEXT NOT NULL,
    content_type TEXT,
    filename     TEXT,
    size         INTEGER NOT NULL,
    uploader     TEXT,
    created_ts   INTEGER NOT NULL,
    PRIMARY KEY (origin, media_id)
);
