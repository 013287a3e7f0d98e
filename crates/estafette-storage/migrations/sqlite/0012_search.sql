-- Server-side search (POST /search): the searchable text of each event, one row per key
-- (content.body, content.name, content.topic). Redacted events are removed.
CREATE VIRTUAL TABLE event_search USING fts5(
    text,
    key UNINDEXED,
    event_id UNINDEXED,
    room_id UNINDEXED,
    sender UNINDEXED,
    stream_ordering UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
