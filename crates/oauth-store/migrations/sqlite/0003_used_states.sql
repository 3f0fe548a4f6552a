-- oauth-store schema 3, SQLite: the install flow's used states. A sealed `state` needs no server
-- storage to be verified; this table makes it single use: its id (the SHA-256 of the state) is
-- recorded when its callback uses it and kept until the state's own expiry, then purged.
-- No row is secret.
CREATE TABLE IF NOT EXISTS oauth_used_states (
    state_id      BLOB    NOT NULL PRIMARY KEY,
    expires_at_ms INTEGER NOT NULL
);

CREATE INDEX IF NOT EXISTS oauth_used_states_expiry ON oauth_used_states (expires_at_ms);
