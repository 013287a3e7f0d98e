-- Other servers' users' devices and cross-signing keys (as `/user/devices` answers them), kept
-- while they share a room with a local user and kept current by their servers'
-- `m.device_list_update` EDUs; `stream_id` is the position the sending server gave.
CREATE TABLE remote_device_lists (
    user_id   TEXT PRIMARY KEY NOT NULL,
    stream_id INTEGER NOT NULL,
    keys      TEXT NOT NULL
);

-- The last device-list update sent about each local user: the next one names it as prev_id.
CREATE TABLE device_list_updates_sent (
    user_id   TEXT PRIMARY KEY NOT NULL,
    stream_id INTEGER NOT NULL
);
