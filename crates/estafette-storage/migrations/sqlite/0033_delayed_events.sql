-- Delayed events (MSC4140): events a user has the server send later (a call membership that
-- ends when its client stops answering, a scheduled message), until sent or cancelled.
CREATE TABLE delayed_events (
    delay_id      TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    room_id       TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    state_key     TEXT,
    content       TEXT NOT NULL,
    delay_ms      BIGINT NOT NULL,
    created_ts    BIGINT NOT NULL,
    running_since BIGINT NOT NULL,
    send_ts       BIGINT NOT NULL,
    -- Set while a process sends it; a claim older than a minute is taken over.
    claimed_ts    BIGINT
);
CREATE INDEX delayed_events_due ON delayed_events (send_ts);
CREATE INDEX delayed_events_user ON delayed_events (user_id);
