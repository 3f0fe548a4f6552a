-- oauth-store schema 2, PostgreSQL: an installation holds several token sets (the bot's, each
-- user's), each its own row, keyed by its principal; the installation's record is kept beside
-- them. The rows of schema 1 (`oauth_installations`, one token set per row, keyed by a
-- provider-defined string) are moved here by the store when it opens (their keys are rewritten,
-- and encrypted columns re-encrypted, in Rust: see `src/legacy.rs`), after which
-- `oauth_installations` is renamed `oauth_installations_v1` and kept, untouched, as a backup.
CREATE TABLE IF NOT EXISTS oauth_token_sets (
    provider              TEXT        NOT NULL,
    installation_key      TEXT        NOT NULL,
    principal             TEXT        NOT NULL,
    version               BIGINT      NOT NULL,
    access_token          BYTEA       NOT NULL,
    refresh_token         BYTEA,
    key_id                TEXT,
    token_meta            TEXT        NOT NULL,
    needs_reauthorization TEXT,
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, installation_key, principal)
);

-- Secret column: secrets (JSON of the installation's non-token secrets, e.g. Slack's
-- incoming-webhook URL; plaintext UTF-8, or an XChaCha20-Poly1305 ciphertext when key_id is set).
CREATE TABLE IF NOT EXISTS oauth_installation_records (
    provider         TEXT        NOT NULL,
    installation_key TEXT        NOT NULL,
    enterprise_id    TEXT,
    details          TEXT        NOT NULL,
    secrets          BYTEA,
    key_id           TEXT,
    installed_at     TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, installation_key)
);

CREATE INDEX IF NOT EXISTS oauth_installation_records_enterprise
    ON oauth_installation_records (provider, enterprise_id);

-- Leases are per token set now, timed by the database clock. (A lease is held for seconds;
-- replicas of the previous version must be stopped before the upgrade.)
DROP TABLE IF EXISTS oauth_leases;
CREATE TABLE oauth_leases (
    provider         TEXT        NOT NULL,
    installation_key TEXT        NOT NULL,
    principal        TEXT        NOT NULL,
    holder           TEXT        NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    fence            BIGINT      NOT NULL,
    PRIMARY KEY (provider, installation_key, principal)
);
