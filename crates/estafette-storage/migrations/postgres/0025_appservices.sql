-- Application services' delivery state and their transactions, written before they are sent.
CREATE TABLE appservice_states (
    appservice_id   TEXT PRIMARY KEY NOT NULL,
    stream_position BIGINT NOT NULL,
    last_txn_id     BIGINT NOT NULL,
    down_since      BIGINT,
    backoff_ms      BIGINT NOT NULL,
    retry_ts        BIGINT NOT NULL,
    claimed_ts      BIGINT
);
CREATE TABLE appservice_transactions (
    appservice_id TEXT NOT NULL,
    txn_id        BIGINT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (appservice_id, txn_id)
);
-- Receipts of every room in stream order, which application services are sent.
CREATE INDEX receipts_stream_id ON receipts (stream_id);
