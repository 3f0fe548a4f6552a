//! Every statement the PostgreSQL store runs on its token sets, records and leases (the one-time
//! upgrade of schema 1 and the used states aside), in one place so that `plans` can check that
//! each one is answered from an index.

/// Writes a token set unconditionally (insert, or replace and clear the mark); returns its version.
pub(crate) const UPSERT: &str = "INSERT INTO oauth_token_sets (provider, installation_key, principal, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at, expires_at_ms) \
         VALUES ($1, $2, $3, 1, $4, $5, $6, $7, NULL, now(), $8) \
         ON CONFLICT (provider, installation_key, principal) DO UPDATE SET version = oauth_token_sets.version + 1, \
           access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, key_id = EXCLUDED.key_id, \
           token_meta = EXCLUDED.token_meta, needs_reauthorization = NULL, updated_at = now(), \
           expires_at_ms = EXCLUDED.expires_at_ms \
         RETURNING version";

/// Deletes an installation's token sets.
pub(crate) const DELETE_INSTALLATION_TOKEN_SETS: &str =
    "DELETE FROM oauth_token_sets WHERE provider = $1 AND installation_key = $2";

/// Expires an installation's leases (kept, so fences keep growing).
pub(crate) const EXPIRE_INSTALLATION_LEASES: &str = "UPDATE oauth_leases SET expires_at = '-infinity' WHERE provider = $1 AND installation_key = $2";

/// Deletes an installation's record.
pub(crate) const DELETE_RECORD: &str =
    "DELETE FROM oauth_installation_records WHERE provider = $1 AND installation_key = $2";

/// A token set by key.
pub(crate) const GET: &str = "SELECT version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, \
               (extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms \
             FROM oauth_token_sets WHERE provider = $1 AND installation_key = $2 AND principal = $3";

/// Writes a token set if still at the expected version.
pub(crate) const COMPARE_AND_SWAP: &str = "UPDATE oauth_token_sets SET version = version + 1, access_token = $4, refresh_token = $5, key_id = $6, \
               token_meta = $7, needs_reauthorization = NULL, updated_at = now(), expires_at_ms = $9 \
             WHERE provider = $1 AND installation_key = $2 AND principal = $3 AND version = $8 RETURNING version";

/// Marks a token set if still at the expected version.
pub(crate) const MARK_NEEDS_REAUTHORIZATION: &str = "UPDATE oauth_token_sets SET version = version + 1, needs_reauthorization = $4, updated_at = now() \
             WHERE provider = $1 AND installation_key = $2 AND principal = $3 AND version = $5 RETURNING version";

/// Deletes one token set.
pub(crate) const DELETE: &str =
    "DELETE FROM oauth_token_sets WHERE provider = $1 AND installation_key = $2 AND principal = $3";

/// An installation's record.
pub(crate) const INSTALLATION: &str = "SELECT enterprise_id, details, secrets, key_id, \
               (extract(epoch from installed_at) * 1000)::bigint AS installed_at_ms \
             FROM oauth_installation_records WHERE provider = $1 AND installation_key = $2";

/// The principals of an installation's token sets.
pub(crate) const TOKEN_KEYS: &str =
    "SELECT principal FROM oauth_token_sets WHERE provider = $1 AND installation_key = $2";

/// The installations of an organisation.
pub(crate) const ENTERPRISE_INSTALLATIONS: &str = "SELECT installation_key FROM oauth_installation_records \
             WHERE provider = $1 AND enterprise_id = $2";

/// The installations of an organisation, in the transaction that deletes them.
pub(crate) const ENTERPRISE_INSTALLATIONS_TO_DELETE: &str = "SELECT installation_key FROM oauth_installation_records \
             WHERE provider = $1 AND enterprise_id = $2 FOR UPDATE";

/// Takes a lease if free, lapsed, or the holder's own.
pub(crate) const ACQUIRE_LEASE: &str = "INSERT INTO oauth_leases (provider, installation_key, principal, holder, expires_at, fence) \
             VALUES ($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 millisecond', 1) \
             ON CONFLICT (provider, installation_key, principal) DO UPDATE SET holder = EXCLUDED.holder, \
               expires_at = EXCLUDED.expires_at, fence = oauth_leases.fence + 1 \
             WHERE oauth_leases.expires_at <= clock_timestamp() OR oauth_leases.holder = EXCLUDED.holder \
             RETURNING fence, (extract(epoch from expires_at) * 1000)::bigint";

/// Extends a lease still held (same fence, not released).
pub(crate) const RENEW_LEASE: &str = "UPDATE oauth_leases SET expires_at = clock_timestamp() + $6 * interval '1 millisecond' \
             WHERE provider = $1 AND installation_key = $2 AND principal = $3 AND fence = $4 AND holder = $5 \
               AND expires_at > '-infinity' \
             RETURNING (extract(epoch from expires_at) * 1000)::bigint";

/// Releases a lease (expires it).
pub(crate) const RELEASE_LEASE: &str = "UPDATE oauth_leases SET expires_at = '-infinity' \
             WHERE provider = $1 AND installation_key = $2 AND principal = $3 AND fence = $4 AND holder = $5";

/// The first page of every provider's keys.
pub(crate) const LIST_FIRST: &str = "SELECT provider, installation_key, principal FROM oauth_token_sets ORDER BY provider, installation_key, principal LIMIT $1";

/// The first page of one provider's keys.
pub(crate) const LIST_PROVIDER_FIRST: &str = "SELECT provider, installation_key, principal FROM oauth_token_sets WHERE provider = $1 ORDER BY provider, installation_key, principal LIMIT $2";

/// A page of every provider's keys after a key.
pub(crate) const LIST_AFTER: &str = "SELECT provider, installation_key, principal FROM oauth_token_sets WHERE (provider, installation_key, principal) > ($1, $2, $3) ORDER BY provider, installation_key, principal LIMIT $4";

/// A page of one provider's keys after a key of the same provider.
pub(crate) const LIST_PROVIDER_AFTER: &str = "SELECT provider, installation_key, principal FROM oauth_token_sets WHERE provider = $1 AND (installation_key, principal) > ($2, $3) ORDER BY provider, installation_key, principal LIMIT $4";

/// The first page of refreshable token sets expiring by a time (index `oauth_token_sets_due`).
pub(crate) const DUE_FIRST: &str = "SELECT expires_at_ms, provider, installation_key, principal FROM oauth_token_sets \
     WHERE expires_at_ms <= $1 AND refresh_token IS NOT NULL AND needs_reauthorization IS NULL \
     ORDER BY expires_at_ms, provider, installation_key, principal LIMIT $2";

/// A page of refreshable token sets expiring by a time, after a `(expires_at_ms, key)`.
pub(crate) const DUE_AFTER: &str = "SELECT expires_at_ms, provider, installation_key, principal FROM oauth_token_sets \
     WHERE expires_at_ms <= $1 AND refresh_token IS NOT NULL AND needs_reauthorization IS NULL \
       AND (expires_at_ms, provider, installation_key, principal) > ($2, $3, $4, $5) \
     ORDER BY expires_at_ms, provider, installation_key, principal LIMIT $6";

/// Every statement above, by name.
#[cfg(test)]
pub(crate) const ALL: &[(&str, &str)] = &[
    ("UPSERT", UPSERT),
    (
        "DELETE_INSTALLATION_TOKEN_SETS",
        DELETE_INSTALLATION_TOKEN_SETS,
    ),
    ("EXPIRE_INSTALLATION_LEASES", EXPIRE_INSTALLATION_LEASES),
    ("DELETE_RECORD", DELETE_RECORD),
    ("GET", GET),
    ("COMPARE_AND_SWAP", COMPARE_AND_SWAP),
    ("MARK_NEEDS_REAUTHORIZATION", MARK_NEEDS_REAUTHORIZATION),
    ("DELETE", DELETE),
    ("INSTALLATION", INSTALLATION),
    ("TOKEN_KEYS", TOKEN_KEYS),
    ("ENTERPRISE_INSTALLATIONS", ENTERPRISE_INSTALLATIONS),
    (
        "ENTERPRISE_INSTALLATIONS_TO_DELETE",
        ENTERPRISE_INSTALLATIONS_TO_DELETE,
    ),
    ("ACQUIRE_LEASE", ACQUIRE_LEASE),
    ("RENEW_LEASE", RENEW_LEASE),
    ("RELEASE_LEASE", RELEASE_LEASE),
    ("LIST_FIRST", LIST_FIRST),
    ("LIST_PROVIDER_FIRST", LIST_PROVIDER_FIRST),
    ("LIST_AFTER", LIST_AFTER),
    ("LIST_PROVIDER_AFTER", LIST_PROVIDER_AFTER),
    ("DUE_FIRST", DUE_FIRST),
    ("DUE_AFTER", DUE_AFTER),
];
