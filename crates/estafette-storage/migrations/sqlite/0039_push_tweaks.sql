-- Push delivery reads what the rules decided when the event arrived: the tweaks (sound,
-- highlight…) are stored with each notification ('' for none) rather than evaluated again.
ALTER TABLE event_push_actions ADD COLUMN tweaks TEXT NOT NULL DEFAULT '';
-- A failing pusher is tried again at once when a notification newer than the ones it failed
-- on arrives (the gateway may be back), not only when its back-off ends.
ALTER TABLE pushers ADD COLUMN attempted_stream BIGINT NOT NULL DEFAULT 0;
-- A user's notifications in order (push delivery, `/notifications`): by index, not by scan.
CREATE INDEX event_push_actions_user ON event_push_actions (user_id, stream_ordering)
    WHERE notify = 1;
