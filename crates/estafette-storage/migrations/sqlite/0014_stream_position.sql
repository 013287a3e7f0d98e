-- The stream's position is one row, bumped inside each write transaction: the same statement
-- on SQLite and PostgreSQL, and it commits in the order positions are taken.
CREATE TABLE stream_position (
    position INTEGER NOT NULL
);
INSERT INTO stream_position (position)
    SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'stream_sequence'), 0);
DROP TABLE stream_sequence;
