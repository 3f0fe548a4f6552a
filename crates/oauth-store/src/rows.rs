//! What both SQL stores do alike once a row is fetched: read an installation from it, turn a
//! conditional `UPDATE … RETURNING version` into a [`CasOutcome`], convert times and versions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oauth_core::{CasOutcome, Error, InstallationKey, Result, StoredInstallation, TokenStore};
use sqlx::{ColumnIndex, Decode, Type};

use crate::codec::{self, Encryption, Row};

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
        .map_err(|e| Error::storage(format!("cannot read column {name} of an installation"), e))
}

/// The installation in `row` (columns `access_token`, `refresh_token`, `key_id`, `token_meta`,
/// `version`, `needs_reauthorization`, `updated_at_ms`), decrypted with `encryption`.
pub(crate) fn read<'r, R>(
    key: &InstallationKey,
    row: &'r R,
    encryption: Option<&Encryption>,
) -> Result<StoredInstallation>
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
    let tokens = codec::decode(&stored, key, encryption)?;
    let mut installation =
        StoredInstallation::new(key.clone(), tokens, to_version(col(row, "version")?));
    installation.needs_reauthorization = col(row, "needs_reauthorization")?;
    installation.updated_at = from_ms(col(row, "updated_at_ms")?);
    Ok(installation)
}

/// The outcome of a conditional write that returned the new `version`, or nothing when the
/// expected version no longer matched (then the current row, if any, is read back).
pub(crate) async fn outcome(
    store: &dyn TokenStore,
    key: &InstallationKey,
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
