-- oauth-store schema, SQLite. Secret columns: access_token, refresh_token (plaintext UTF-8, or
-- XChaCha20-Poly1305 ciphertexts when key_id is set).
CREATE TABLE IF NOT EXISTS oauth_installations (
    provider              TEXT    NOT NULL,
    installation_key      TEXT    NOT NULL,
    version               INTEGER NOT NULL,
    access_token          BLOB    NOT NULL,
    refresh_token         BLOB,
    key_id                TEXT,
    token_meta            TEXT    NOT NULL,
    needs_reauthorization TEXT,
    updated_at_ms         INTEGER NOT NULL,
    PRIMARY KEY (provider, installation_key)
);

CREATE TABLE IF NOT EXISTS oauth_leases (
    provider         TEXT    NOT NULL,
    installation_key TEXT    NOT NULL,
    holder           TEXT    NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    fence            INTEGER NOT NULL,
    PRIMARY KEY (provider, installation_key)
);
