-- timestamp_to_event: the event of a room closest to a date.
CREATE INDEX events_room_time ON events (room_id, origin_server_ts);
