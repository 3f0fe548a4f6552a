//! What both SQL stores do alike once a row is fetched: read a token set or an installation's
//! record from it, turn a conditional `UPDATE … RETURNING version` into a [`CasOutcome`], convert
//! times and versions, and split a `TokenKey` into its columns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth_core::{
    CasOutcome, DueToken, Error, Installation, InstallationKey, ProviderId, Result, StoredTokenSet,
    TokenKey, TokenStore,
};
use sqlx::{ColumnIndex, Decode, Type};

use crate::codec::{self, Binding, Encryption, RecordRow, Row};

/// Unix milliseconds to a time (negative values clamp to the epoch).
pub(crate) fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A stored `BIGINT` version or fence as the trait's `u64`.
pub(crate) fn to_version(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// One column of a row, or a storage error naming it.
pub(crate) fn col<'r, R, T>(row: &'r R, name: &str) -> Result<T>
where
    R: sqlx::Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    for<'n> &'n str: ColumnIndex<R>,
{
    row.try_get(name)
        .map_err(|e| Error::storage(format!("cannot read column {name} of a stored row"), e))
}

/// The token set in `row` (columns `access_token`, `refresh_token`, `key_id`, `token_meta`,
/// `version`, `needs_reauthorization`, `updated_at_ms`), decrypted with `encryption`.
pub(crate) fn read<'r, R>(
    key: &TokenKey,
    row: &'r R,
    encryption: Option<&Encryption>,
) -> Result<StoredTokenSet>
where
    R: sqlx::Row,
    for<'n> &'n str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let stored = Row {
        access_token: col(row, "access_token")?,
        refresh_token: col(row, "refresh_token")?,
        key_id: col(row, "key_id")?,
        token_meta: col(row, "token_meta")?,
    };
    let tokens = codec::decode(&stored, &Binding::token_set(key), encryption)?;
    let mut stored = StoredTokenSet::new(key.clone(), tokens, to_version(col(row, "version")?));
    stored.needs_reauthorization = col(row, "needs_reauthorization")?;
    stored.updated_at = from_ms(col(row, "updated_at_ms")?);
    Ok(stored)
}

/// The installation's record in `row` (columns `enterprise_id`, `details`, `secrets`, `key_id`,
/// `installed_at_ms`), decrypted with `encryption`.
pub(crate) fn read_record<'r, R>(
    key: &InstallationKey,
    row: &'r R,
    encryption: Option<&Encryption>,
) -> Result<Installation>
where
    R: sqlx::Row,
    for<'n> &'n str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let stored = RecordRow {
        enterprise_id: col(row, "enterprise_id")?,
        details: col(row, "details")?,
        secrets: col(row, "secrets")?,
        key_id: col(row, "key_id")?,
    };
    codec::decode_record(
        key,
        &stored,
        from_ms(col(row, "installed_at_ms")?),
        encryption,
    )
}

/// The token keys of a page's rows (provider, installation key, principal).
pub(crate) fn token_keys(found: Vec<(String, String, String)>) -> Result<Vec<TokenKey>> {
    found
        .into_iter()
        .map(|(provider, installation, principal)| token_key(provider, installation, &principal))
        .collect()
}

/// The due token sets of a page's rows (expiry in milliseconds, provider, installation key,
/// principal).
pub(crate) fn due_tokens(found: Vec<(i64, String, String, String)>) -> Result<Vec<DueToken>> {
    found
        .into_iter()
        .map(|(expires_at, provider, installation, principal)| {
            Ok(DueToken::new(
                token_key(provider, installation, &principal)?,
                from_ms(expires_at),
            ))
        })
        .collect()
}

/// A token key from its columns.
pub(crate) fn token_key(
    provider: String,
    installation: String,
    principal: &str,
) -> Result<TokenKey> {
    let principal = principal.parse().map_err(|e| Error::Storage {
        message: format!("a stored token set's principal is unreadable: {e}"),
        source: None,
    })?;
    Ok(TokenKey::new(
        InstallationKey::new(ProviderId::new(provider), installation),
        principal,
    ))
}

/// The `expires_at_ms` column of a token set: when its access token expires, in Unix
/// milliseconds (what `due_for_refresh` reads through its index).
pub(crate) fn expiry_ms(tokens: &oauth_core::TokenSet) -> Option<i64> {
    tokens.expires_at.map(to_ms)
}

/// Unix milliseconds of a time (before the epoch: 0).
pub(crate) fn to_ms(time: std::time::SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The outcome of a conditional write that returned the new `version`, or nothing when the
/// expected version no longer matched (then the current row, if any, is read back).
pub(crate) async fn outcome(
    store: &dyn TokenStore,
    key: &TokenKey,
    version: Option<i64>,
) -> Result<CasOutcome> {
    Ok(match version {
        Some(version) => CasOutcome::Swapped {
            version: to_version(version),
        },
        None => CasOutcome::Conflict {
            current: store.get(key).await?.map(Box::new),
        },
    })
}
