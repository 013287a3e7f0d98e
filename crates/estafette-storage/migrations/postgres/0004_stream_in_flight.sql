-- Stream positions taken by write transactions that have not committed yet (see
-- Db::next_stream_id and docs/scaling.md): a reader's token stops below the smallest of them.
-- `xid` is the writing transaction, so that a writer that rolled back or died stops counting
-- at once, without a lease.
CREATE TABLE stream_in_flight (
    position BIGINT PRIMARY KEY NOT NULL,
    xid      BIGINT NOT NULL
);
