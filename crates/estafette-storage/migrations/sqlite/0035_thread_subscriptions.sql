-- Thread subscriptions (MSC4306): the threads a user follows, set by hand or by their client
-- (automatic), and those they left; each change at a stream position, so that sync
-- (MSC4308) sends what changed.
CREATE TABLE thread_subscriptions (
    user_id     TEXT NOT NULL,
    room_id     TEXT NOT NULL,
    thread_root TEXT NOT NULL,
    subscribed  INTEGER NOT NULL,
    automatic   INTEGER NOT NULL,
    stream_id   BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_root)
);
CREATE INDEX thread_subscriptions_changes ON thread_subscriptions (user_id, stream_id);
