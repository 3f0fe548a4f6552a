-- oauth-store schema 3, PostgreSQL: the install flow's used states, shared by every replica. A
-- sealed `state` needs no server storage to be verified; this table makes it single use: its id
-- (the SHA-256 of the state) is recorded when its callback uses it and kept until the state's own
-- expiry (compared with the database clock, so that replicas with skewed clocks agree), then
-- purged. No row is secret.
CREATE TABLE IF NOT EXISTS oauth_used_states (
    state_id   BYTEA       NOT NULL PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE INDEX IF NOT EXISTS oauth_used_states_expiry ON oauth_used_states (expires_at);
