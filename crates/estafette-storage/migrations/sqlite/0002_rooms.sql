CREATE TABLE rooms (
    room_id             TEXT PRIMARY KEY NOT NULL,
    room_version        TEXT NOT NULL,
    creator             TEXT NOT NULL,
    is_public           INTEGER NOT NULL DEFAULT 0,
    current_state_group INTEGER,
    created_ts          INTEGER NOT NULL
);

-- One sequence orders everything a client syncs on (events, account data, receipts...):
-- a sync token is a position in it. Rows are deleted right after allocation; AUTOINCREMENT
-- keeps the counter.
CREATE TABLE stream_sequence (
    id INTEGER PRIMARY KEY AUTOINCREMENT
);

ALTER TABLE account_data ADD COLUMN stream_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX account_data_stream ON account_data (user_id, stream_id);

-- Every PDU, local or (later) remote, at its position in the stream.
CREATE TABLE events (
    stream_ordering  INTEGER PRIMARY KEY NOT NULL,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    state_key        TEXT,
    sender           TEXT NOT NULL,
    depth            INTEGER NOT NULL,
    origin_server_ts INTEGER NOT NULL,
    state_group      INTEGER NOT NULL,
    json             TEXT NOT NULL
);
CREATE INDEX events_room_order ON events (room_id, stream_ordering);

CREATE TABLE forward_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- Room state is stored as chains of deltas ending in a snapshot: a state group lists only
-- what changed since prev_group, so no event ever copies a room's whole state.
CREATE TABLE state_groups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id      TEXT NOT NULL,
    prev_group   INTEGER,
    chain_length INTEGER NOT NULL
);

CREATE TABLE state_group_entries (
    group_id   INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    PRIMARY KEY (group_id, event_type, state_key)
);

-- The current membership of each user in each room, derived from the room's current state.
CREATE TABLE room_memberships (
    room_id         TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    membership      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    stream_ordering INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);

CREATE TABLE event_transactions (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- The newest receipt of each kind per user, room and thread ('' outside threads).
CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    stream_id    INTEGER NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_stream ON receipts (room_id, stream_id);

-- The redaction that pruned an event (its stored JSON is then the redacted form).
ALTER TABLE events ADD COLUMN redacted_by TEXT;

-- Events that relate to another (edits, reactions, threads, references).
CREATE TABLE event_relations (
    event_id        TEXT PRIMARY KEY NOT NULL,
    room_id         TEXT NOT NULL,
    relates_to_id   TEXT NOT NULL,
    rel_type        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    sender          TEXT NOT NULL,
    aggregation_key TEXT,
    stream_ordering INTEGER NOT NULL
);
CREATE INDEX event_relations_target ON event_relations (relates_to_id, rel_type, stream_ordering);
CREATE INDEX event_relations_threads ON event_relations (room_id, rel_type, stream_ordering);

-- Local room aliases (#name:this.server).
CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY NOT NULL,
    room_id    TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ts INTEGER NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
