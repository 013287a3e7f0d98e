-- Push actions kept in the order events arrive in each room, so that storing one event's
-- actions for all of its members writes one place instead of one place per member; the
-- unread counts a sync reads are kept as running totals per member, room and thread, added
-- to with each event and counted again from the actions when the member's read receipt moves.
CREATE TABLE event_push_actions_by_room (
    room_id         TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    user_id         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    thread_id       TEXT NOT NULL,
    notify          INTEGER NOT NULL,
    highlight       INTEGER NOT NULL,
    PRIMARY KEY (room_id, stream_ordering, user_id)
) WITHOUT ROWID;
INSERT INTO event_push_actions_by_room
    (room_id, stream_ordering, user_id, event_id, thread_id, notify, highlight)
SELECT room_id, stream_ordering, user_id, event_id, thread_id, notify, highlight
FROM event_push_actions;
DROP TABLE event_push_actions;
ALTER TABLE event_push_actions_by_room RENAME TO event_push_actions;

CREATE TABLE push_counts (
    room_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    thread_id     TEXT NOT NULL,
    notifications INTEGER NOT NULL,
    highlights    INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id, thread_id)
) WITHOUT ROWID;
-- A thread counts after its newest read receipt and after the newest unthreaded (or main) one.
INSERT INTO push_counts (room_id, user_id, thread_id, notifications, highlights)
SELECT a.room_id, a.user_id, a.thread_id,
       CAST(SUM(a.notify) AS INTEGER), CAST(SUM(a.highlight) AS INTEGER)
FROM event_push_actions a
WHERE a.stream_ordering > COALESCE((
        SELECT MAX(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
        WHERE r.user_id = a.user_id AND r.room_id = a.room_id
          AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id IN ('', 'main')), 0)
  AND a.stream_ordering > COALESCE((
        SELECT MAX(e.stream_ordering) FROM receipts r JOIN events e ON e.event_id = r.event_id
        WHERE r.user_id = a.user_id AND r.room_id = a.room_id
          AND r.receipt_type IN ('m.read', 'm.read.private') AND r.thread_id = a.thread_id), 0)
GROUP BY a.room_id, a.user_id, a.thread_id;
