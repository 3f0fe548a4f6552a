-- oauth-store schema 4, PostgreSQL: queries that stay indexed at a million token sets.
-- Keys are compared in byte order (collation "C"), the order of `TokenKey` in Rust, so that a
-- page of keys is one range read of the primary key whatever the database's default collation
-- (a locale's collation would order `B` after `a`, and `list_page` would need a sort). This
-- rebuilds the primary key's index once.
ALTER TABLE oauth_token_sets
    ALTER COLUMN provider TYPE TEXT COLLATE "C",
    ALTER COLUMN installation_key TYPE TEXT COLLATE "C",
    ALTER COLUMN principal TYPE TEXT COLLATE "C";

-- `expires_at_ms`: when the access token expires (Unix milliseconds, the application's clock as
-- the token set says; NULL: it does not), written with every token set, so that a background
-- refresher finds the token sets due with one range read of `oauth_token_sets_due`. Existing rows
-- take it from their `token_meta` (a `SystemTime` as serde writes it: seconds and nanoseconds).
ALTER TABLE oauth_token_sets ADD COLUMN IF NOT EXISTS expires_at_ms BIGINT;

UPDATE oauth_token_sets SET expires_at_ms =
    (token_meta::jsonb #>> '{expires_at,secs_since_epoch}')::bigint * 1000
    + (token_meta::jsonb #>> '{expires_at,nanos_since_epoch}')::bigint / 1000000;

-- Only the rows a refresh can help: with a refresh token, not marked for re-authorization.
CREATE INDEX IF NOT EXISTS oauth_token_sets_due
    ON oauth_token_sets (expires_at_ms, provider, installation_key, principal)
    WHERE refresh_token IS NOT NULL AND needs_reauthorization IS NULL;
