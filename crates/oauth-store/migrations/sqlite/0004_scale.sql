-- oauth-store schema 4, SQLite: queries that stay indexed at a million token sets.
-- `expires_at_ms`: when the access token expires (Unix milliseconds; NULL: it does not), written
-- with every token set, so that a background refresher finds the token sets due for refresh with
-- one range read of `oauth_token_sets_due` instead of reading every row. Existing rows take it
-- from their `token_meta` (a `SystemTime` as serde writes it: seconds and nanoseconds).
-- Keys are listed in pages by the primary key (byte order, SQLite's BINARY collation).
ALTER TABLE oauth_token_sets ADD COLUMN expires_at_ms INTEGER;

UPDATE oauth_token_sets SET expires_at_ms =
    json_extract(token_meta, '$.expires_at.secs_since_epoch') * 1000
    + json_extract(token_meta, '$.expires_at.nanos_since_epoch') / 1000000;

-- Only the rows a refresh can help: with a refresh token, not marked for re-authorization.
CREATE INDEX IF NOT EXISTS oauth_token_sets_due
    ON oauth_token_sets (expires_at_ms, provider, installation_key, principal)
    WHERE refresh_token IS NOT NULL AND needs_reauthorization IS NULL;
