-- Simplified sliding sync (MSC4186) connections: a device's conn_id, with the positions it may
-- resume from (each standing for the stream position it covers) and, per room, what the
-- connection was sent and in which response (rooms sent by a response the client never saw
-- are forgotten when it resumes from an earlier one).
CREATE TABLE sliding_sync_positions (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    conn_id   TEXT NOT NULL,
    pos       BIGINT NOT NULL,
    stream    BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, conn_id, pos)
);

CREATE TABLE sliding_sync_rooms (
    user_id      TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    conn_id      TEXT NOT NULL,
    room_id      TEXT NOT NULL,
    pos          BIGINT NOT NULL,
    stream       BIGINT NOT NULL,
    state_config TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, conn_id, room_id)
);
