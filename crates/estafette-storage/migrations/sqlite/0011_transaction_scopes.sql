-- A transaction ID is scoped to the device and the request path (the spec's "transaction
-- identifiers"): the same ID sent to two rooms, or to /send and /redact, is two requests.
CREATE TABLE event_transactions_scoped (
    user_id   TEXT NOT NULL,
    device_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    txn_id    TEXT NOT NULL,
    event_id  TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, scope, txn_id)
);
INSERT INTO event_transactions_scoped (user_id, device_id, scope, txn_id, event_id)
    SELECT user_id, device_id, '', txn_id, event_id FROM event_transactions;
DROP TABLE event_transactions;
ALTER TABLE event_transactions_scoped RENAME TO event_transactions;
-- /sync echoes the transaction ID of each of the user's own events.
CREATE INDEX event_transactions_event ON event_transactions (event_id);

-- To-device transactions are scoped by event type, the variable part of their path.
CREATE TABLE to_device_transactions_scoped (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    event_type TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id, event_type, txn_id)
);
INSERT INTO to_device_transactions_scoped (user_id, device_id, event_type, txn_id)
    SELECT user_id, device_id, '', txn_id FROM to_device_transactions;
DROP TABLE to_device_transactions;
ALTER TABLE to_device_transactions_scoped RENAME TO to_device_transactions;
