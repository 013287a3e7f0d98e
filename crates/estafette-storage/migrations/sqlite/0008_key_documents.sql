-- Other servers' key documents as they signed them, so this server can act as a notary
-- (`/_matrix/key/v2/query`) and hand them on with its own signature added.
CREATE TABLE server_key_documents (
    server_name    TEXT PRIMARY KEY NOT NULL,
    document       TEXT NOT NULL,
    valid_until_ts INTEGER NOT NULL
);
