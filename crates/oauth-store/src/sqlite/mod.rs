//! The embedded store: one SQLite file.

mod files;
mod import;
#[cfg(test)]
mod plans;
mod sql;
mod upgrade;
mod used_states;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::store::page_limit;
use oauth_core::{
    CasOutcome, DueToken, Error, Grant, Installation, InstallationKey, Lease, Page, ProviderId,
    Result, StoredTokenSet, TokenKey, TokenSet, TokenStore,
};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::codec::{self, Binding, Encryption, RecordRow, Row};
use crate::migrate::{migrator, storage_error};
use crate::rows::{self, from_ms, to_ms, to_version};

/// A [`TokenStore`] in one SQLite file: the embedded default.
///
/// The file is owner-only on Unix: created with mode 0600 (missing directories with 0700), and an
/// existing file, `-wal` or `-shm` that other users may read is set to 0600 when the store is
/// opened (or, if its mode cannot be changed, the open fails with a configuration error). It uses
/// WAL journaling (readers do not block the writer) and `synchronous = FULL`. Every write of a
/// token set is one statement and a grant's writes one transaction, so a process killed at any
/// point leaves each token set with its old or its new tokens, never a mix. Leases expire on
/// this machine's clock: SQLite is for processes of one machine.
///
/// ```no_run
/// # async fn run() -> oauth_core::Result<()> {
/// use oauth_store::SqliteTokenStore;
/// let store = SqliteTokenStore::open("tokens.sqlite3").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteTokenStore {
    pool: SqlitePool,
    encryption: Option<Arc<Encryption>>,
    path: PathBuf,
}

/// A lease's time to live in milliseconds, cut to [`oauth_core::store::MAX_LEASE_TTL`].
fn ttl_ms(ttl: Duration) -> i64 {
    let ttl = ttl.min(oauth_core::store::MAX_LEASE_TTL);
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    to_ms(SystemTime::now())
}

impl SqliteTokenStore {
    /// Opens (creating it and its directories if needed, owner-only) the store at `path`,
    /// without encryption.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, None).await
    }

    /// Opens the store at `path`; with `encryption`, every secret column is encrypted.
    ///
    /// A store written by a version before 0.2 (one token set per installation) is moved to the
    /// current schema on the first open (see the crate docs); if it holds encrypted rows, that
    /// first open needs their key.
    pub async fn open_with(path: impl AsRef<Path>, encryption: Option<Encryption>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        files::create_private(&path).await?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(storage_error("cannot open the SQLite token store"))?;
        migrator(&[
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/sqlite/0002_installations.sql"),
            include_str!("../../migrations/sqlite/0003_used_states.sql"),
            include_str!("../../migrations/sqlite/0004_scale.sql"),
        ])
        .run(&pool)
        .await
        .map_err(|e| Error::storage("cannot migrate the SQLite token store", e))?;
        upgrade::schema_one(&pool, encryption.as_ref()).await?;
        Ok(Self {
            pool,
            encryption: encryption.map(Arc::new),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pool (waits for connections to finish).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn encode(&self, key: &TokenKey, tokens: &TokenSet) -> Result<Row> {
        codec::encode(tokens, &Binding::token_set(key), self.encryption.as_deref())
    }

    async fn outcome(&self, key: &TokenKey, version: Option<i64>) -> Result<CasOutcome> {
        rows::outcome(self, key, version).await
    }
}

/// Writes a token set unconditionally (insert, or replace and clear the mark); its new version.
async fn upsert<'e, E>(
    executor: E,
    key: &TokenKey,
    row: Row,
    expires: Option<i64>,
    now: i64,
) -> sqlx::Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let installation = key.installation();
    sqlx::query_scalar(sql::UPSERT)
        .bind(installation.provider().as_str())
        .bind(installation.key())
        .bind(key.principal().to_string())
        .bind(row.access_token)
        .bind(row.refresh_token)
        .bind(row.key_id)
        .bind(row.token_meta)
        .bind(now)
        .bind(expires)
        .fetch_one(executor)
        .await
}

/// Writes an installation's record: inserted, or replacing the one there when `replace` (an
/// install, see `Grant::is_install`), else leaving it.
async fn upsert_record<'e, E>(
    executor: E,
    key: &InstallationKey,
    record: RecordRow,
    installed_at: i64,
    now: i64,
    replace: bool,
) -> sqlx::Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    const INSERT: &str = "INSERT INTO oauth_installation_records (provider, installation_key, enterprise_id, details, secrets, key_id, installed_at_ms, updated_at_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (provider, installation_key) ";
    sqlx::query(&if replace {
        format!(
            "{INSERT}DO UPDATE SET enterprise_id = excluded.enterprise_id, \
               details = excluded.details, secrets = excluded.secrets, key_id = excluded.key_id, \
               installed_at_ms = excluded.installed_at_ms, updated_at_ms = excluded.updated_at_ms"
        )
    } else {
        format!("{INSERT}DO NOTHING")
    })
    .bind(key.provider().as_str())
    .bind(key.key())
    .bind(record.enterprise_id)
    .bind(record.details)
    .bind(record.secrets)
    .bind(record.key_id)
    .bind(installed_at)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}

/// Deletes an installation's record, token sets, and (expiring them, so fences keep growing) its
/// leases; whether anything existed.
async fn remove_installation(
    tx: &mut sqlx::SqliteConnection,
    key: &InstallationKey,
) -> sqlx::Result<bool> {
    let (provider, installation) = (key.provider().as_str(), key.key());
    let token_sets = sqlx::query(sql::DELETE_INSTALLATION_TOKEN_SETS)
        .bind(provider)
        .bind(installation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(sql::EXPIRE_INSTALLATION_LEASES)
        .bind(provider)
        .bind(installation)
        .execute(&mut *tx)
        .await?;
    let records = sqlx::query(sql::DELETE_RECORD)
        .bind(provider)
        .bind(installation)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(token_sets + records > 0)
}

const WRITE: &str = "cannot write to the SQLite token store";

#[async_trait]
impl TokenStore for SqliteTokenStore {
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>> {
        let row = sqlx::query(sql::GET)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("cannot read from the SQLite token store"))?;
        row.map(|row| rows::read(key, &row, self.encryption.as_deref()))
            .transpose()
    }

    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64> {
        let row = self.encode(key, tokens)?;
        let version = upsert(&self.pool, key, row, rows::expiry_ms(tokens), now_ms())
            .await
            .map_err(storage_error(WRITE))?;
        Ok(to_version(version))
    }

    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>> {
        let record = codec::encode_record(&grant.installation, self.encryption.as_deref())?;
        let mut rows = Vec::with_capacity(grant.tokens.len());
        for granted in &grant.tokens {
            let key = grant.token_key(granted.principal.clone());
            let row = self.encode(&key, &granted.tokens)?;
            rows.push((key, row, rows::expiry_ms(&granted.tokens)));
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        upsert_record(
            &mut *tx,
            &grant.installation.key,
            record,
            to_ms(grant.installation.installed_at),
            now,
            grant.is_install(),
        )
        .await
        .map_err(storage_error(WRITE))?;
        let mut written = Vec::with_capacity(rows.len());
        for (key, row, expires) in rows {
            let version = upsert(&mut *tx, &key, row, expires, now)
                .await
                .map_err(storage_error(WRITE))?;
            written.push((key, to_version(version)));
        }
        tx.commit().await.map_err(storage_error(WRITE))?;
        Ok(written)
    }

    async fn compare_and_swap(
        &self,
        key: &TokenKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        let row = self.encode(key, tokens)?;
        let version: Option<i64> = sqlx::query_scalar(sql::COMPARE_AND_SWAP)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .bind(row.access_token)
            .bind(row.refresh_token)
            .bind(row.key_id)
            .bind(row.token_meta)
            .bind(now_ms())
            .bind(i64::try_from(expected_version).unwrap_or(-1))
            .bind(rows::expiry_ms(tokens))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(WRITE))?;
        self.outcome(key, version).await
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &TokenKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        let version: Option<i64> = sqlx::query_scalar(sql::MARK_NEEDS_REAUTHORIZATION)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .bind(reason)
            .bind(now_ms())
            .bind(i64::try_from(expected_version).unwrap_or(-1))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(WRITE))?;
        self.outcome(key, version).await
    }

    async fn delete(&self, key: &TokenKey) -> Result<bool> {
        let result = sqlx::query(sql::DELETE)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .execute(&self.pool)
            .await
            .map_err(storage_error("cannot delete from the SQLite token store"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_page(
        &self,
        provider: Option<&ProviderId>,
        after: Option<&TokenKey>,
        limit: usize,
    ) -> Result<Page> {
        let limit = page_limit(limit);
        // After a key of another provider, one provider's page starts at its first key (the
        // other provider sorts before it) or is empty (after it).
        let after = match (provider, after) {
            (Some(provider), Some(after)) if after.provider() != provider => {
                if after.provider() > provider {
                    return Ok(Page::new(Vec::new(), limit));
                }
                None
            }
            (_, after) => after,
        };
        let query = match (provider, after) {
            (None, None) => sqlx::query_as(sql::LIST_FIRST),
            (Some(provider), None) => {
                sqlx::query_as(sql::LIST_PROVIDER_FIRST).bind(provider.as_str())
            }
            (None, Some(after)) => sqlx::query_as(sql::LIST_AFTER)
                .bind(after.provider().as_str())
                .bind(after.installation().key())
                .bind(after.principal().to_string()),
            (Some(provider), Some(after)) => sqlx::query_as(sql::LIST_PROVIDER_AFTER)
                .bind(provider.as_str())
                .bind(after.installation().key())
                .bind(after.principal().to_string()),
        };
        let found: Vec<(String, String, String)> = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("cannot list the SQLite token store"))?;
        Ok(Page::new(rows::token_keys(found)?, limit))
    }

    async fn due_for_refresh(
        &self,
        before: SystemTime,
        after: Option<&DueToken>,
        limit: usize,
    ) -> Result<Vec<DueToken>> {
        let limit = page_limit(limit);
        let query = sqlx::query_as(match after {
            None => sql::DUE_FIRST,
            Some(_) => sql::DUE_AFTER,
        })
        .bind(to_ms(before));
        let query = match after {
            Some(after) => query
                .bind(to_ms(after.expires_at))
                .bind(after.key.provider().as_str())
                .bind(after.key.installation().key())
                .bind(after.key.principal().to_string()),
            None => query,
        };
        let found: Vec<(i64, String, String, String)> = query
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error(
                "cannot read the due token sets of the SQLite token store",
            ))?;
        rows::due_tokens(found)
    }

    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        let row = sqlx::query(sql::INSTALLATION)
            .bind(key.provider().as_str())
            .bind(key.key())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("cannot read from the SQLite token store"))?;
        row.map(|row| rows::read_record(key, &row, self.encryption.as_deref()))
            .transpose()
    }

    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        let principals: Vec<String> = sqlx::query_scalar(sql::TOKEN_KEYS)
            .bind(installation.provider().as_str())
            .bind(installation.key())
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("cannot list the SQLite token store"))?;
        let mut keys = principals
            .iter()
            .map(|principal| {
                rows::token_key(
                    installation.provider().to_string(),
                    installation.key().to_owned(),
                    principal,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        keys.sort();
        Ok(keys)
    }

    async fn delete_installation(&self, installation: &InstallationKey) -> Result<bool> {
        let delete = storage_error("cannot delete from the SQLite token store");
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        let existed = remove_installation(&mut tx, installation)
            .await
            .map_err(storage_error(WRITE))?;
        tx.commit().await.map_err(delete)?;
        Ok(existed)
    }

    async fn enterprise_installations(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        let keys: Vec<String> = sqlx::query_scalar(sql::ENTERPRISE_INSTALLATIONS)
            .bind(provider.as_str())
            .bind(enterprise_id)
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("cannot list the SQLite token store"))?;
        let mut keys: Vec<InstallationKey> = keys
            .into_iter()
            .map(|key| InstallationKey::new(provider.clone(), key))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn delete_enterprise(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        let keys: Vec<String> = sqlx::query_scalar(sql::ENTERPRISE_INSTALLATIONS_TO_DELETE)
            .bind(provider.as_str())
            .bind(enterprise_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(storage_error(WRITE))?;
        let keys: Vec<InstallationKey> = keys
            .into_iter()
            .map(|key| InstallationKey::new(provider.clone(), key))
            .collect();
        for key in &keys {
            remove_installation(&mut tx, key)
                .await
                .map_err(storage_error(WRITE))?;
        }
        tx.commit().await.map_err(storage_error(WRITE))?;
        Ok(keys)
    }

    async fn try_acquire_lease(
        &self,
        key: &TokenKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let now = now_ms();
        let expires = now.saturating_add(ttl_ms(ttl));
        let row: Option<(i64, i64)> = sqlx::query_as(sql::ACQUIRE_LEASE)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .bind(holder)
            .bind(expires)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(
                "cannot take a lease in the SQLite token store",
            ))?;
        Ok(row.map(|(fence, expires_at)| {
            Lease::new(
                key.clone(),
                holder.to_owned(),
                from_ms(expires_at),
                to_version(fence),
            )
        }))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        let expires = now_ms().saturating_add(ttl_ms(ttl));
        // Still ours if no other holder was granted it since (same fence) and it was not
        // released (a release sets the expiry to 0; a lapse leaves a real time).
        let expires_at: Option<i64> = sqlx::query_scalar(sql::RENEW_LEASE)
            .bind(lease.key.provider().as_str())
            .bind(lease.key.installation().key())
            .bind(lease.key.principal().to_string())
            .bind(i64::try_from(lease.fence).unwrap_or(-1))
            .bind(&lease.holder)
            .bind(expires)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(
                "cannot renew a lease in the SQLite token store",
            ))?;
        Ok(expires_at.map(|expires_at| {
            Lease::new(
                lease.key.clone(),
                lease.holder.clone(),
                from_ms(expires_at),
                lease.fence,
            )
        }))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        // Expire it rather than delete it, so the fence keeps growing.
        sqlx::query(sql::RELEASE_LEASE)
            .bind(lease.key.provider().as_str())
            .bind(lease.key.installation().key())
            .bind(lease.key.principal().to_string())
            .bind(i64::try_from(lease.fence).unwrap_or(-1))
            .bind(&lease.holder)
            .execute(&self.pool)
            .await
            .map_err(storage_error(
                "cannot release a lease in the SQLite token store",
            ))?;
        Ok(())
    }
}
