-- oauth-store schema, PostgreSQL. Secret columns: access_token, refresh_token (plaintext UTF-8,
-- or XChaCha20-Poly1305 ciphertexts when key_id is set).
CREATE TABLE IF NOT EXISTS oauth_installations (
    provider              TEXT        NOT NULL,
    installation_key      TEXT        NOT NULL,
    version               BIGINT      NOT NULL,
    access_token          BYTEA       NOT NULL,
    refresh_token         BYTEA,
    key_id                TEXT,
    token_meta            TEXT        NOT NULL,
    needs_reauthorization TEXT,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, installation_key)
);

-- Lease times come from the database clock (clock_timestamp()), so replicas with skewed clocks
-- agree on when a lease lapses.
CREATE TABLE IF NOT EXISTS oauth_leases (
    provider         TEXT        NOT NULL,
    installation_key TEXT        NOT NULL,
    holder           TEXT        NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    fence            BIGINT      NOT NULL,
    PRIMARY KEY (provider, installation_key)
);
