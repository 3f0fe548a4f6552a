//! The shared store: PostgreSQL, for many replicas.

mod import;
#[cfg(test)]
mod plans;
mod sql;
mod tls;
mod upgrade;
mod used_states;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::store::page_limit;
use oauth_core::{
    CasOutcome, DueToken, Error, Grant, Installation, InstallationKey, Lease, Page, ProviderId,
    Result, StoredTokenSet, TokenKey, TokenSet, TokenStore,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::codec::{self, Binding, Encryption, RecordRow, Row};
use crate::migrate::{migrator, storage_error};
use crate::rows::{self, from_ms, to_ms, to_version};

/// A [`TokenStore`] in PostgreSQL, shared by every replica of an application.
///
/// Compare-and-swap is one `UPDATE … WHERE version = $expected`; a grant's writes are one
/// transaction; the refresh lease is one upsert whose condition (`expires_at <= clock_timestamp()`
/// or same holder) is evaluated under the row lock, so two replicas can never both hold it, and
/// lease times come from the database clock so that replicas with skewed clocks agree. A lease
/// whose holder died lapses after its time to live.
///
/// TLS is set in the URL, as libpq reads it (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) and
/// needs the `postgres-tls` feature: `sslmode=verify-full` checks the server's certificate and
/// host name against the system's root certificates or `sslrootcert`, `require` only encrypts.
/// Without the feature, a URL that requires TLS is refused with a configuration error rather than
/// sent in clear; the default `sslmode=prefer` then connects without TLS.
///
/// ```no_run
/// # async fn run() -> oauth_core::Result<()> {
/// use oauth_store::PostgresTokenStore;
/// let store = PostgresTokenStore::connect(
///     "postgres://app@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
/// )
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresTokenStore {
    pool: PgPool,
    encryption: Option<Arc<Encryption>>,
}

impl PostgresTokenStore {
    /// Connects to `url` (a `postgres://` URL; credentials in it are never logged by this crate)
    /// and applies the migrations, without encryption.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, None).await
    }

    /// Connects with `encryption` for every secret column.
    pub async fn connect_with(url: &str, encryption: Option<Encryption>) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            // (sqlx's message may quote the URL, password included: not repeated here.)
            let what = match e {
                sqlx::Error::Configuration(_) => "an option is invalid",
                _ => "it cannot be read",
            };
            Error::configuration(format!("the PostgreSQL URL is not usable: {what}"))
        })?;
        if tls::requires_tls(&options) && !cfg!(feature = "postgres-tls") {
            return Err(Error::configuration(
                "the PostgreSQL URL requires TLS (`sslmode=require`, `verify-ca` or `verify-full`) \
                 but oauth-store was built without its `postgres-tls` feature: enable it",
            ));
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| match tls::tls_failure(&e) {
                // Not the database's state but this side's settings: retrying will not help.
                Some(reason) => Error::configuration(format!(
                    "TLS to the PostgreSQL token store failed ({reason}): check that the server's \
                     certificate is signed by an authority the system or the URL's `sslrootcert` \
                     trusts and names the URL's host, or change the URL's `sslmode`"
                )),
                None => storage_error("cannot connect to the PostgreSQL token store")(e),
            })?;
        Self::from_pool(pool, encryption).await
    }

    /// Uses an existing pool (applies the migrations, and moves a store written before version
    /// 0.2 to the current schema: see the crate docs; encrypted rows then need their key).
    pub async fn from_pool(pool: PgPool, encryption: Option<Encryption>) -> Result<Self> {
        migrator(&[
            include_str!("../../migrations/postgres/0001_init.sql"),
            include_str!("../../migrations/postgres/0002_installations.sql"),
            include_str!("../../migrations/postgres/0003_used_states.sql"),
            include_str!("../../migrations/postgres/0004_scale.sql"),
        ])
        .run(&pool)
        .await
        .map_err(|e| Error::storage("cannot migrate the PostgreSQL token store", e))?;
        upgrade::schema_one(&pool, encryption.as_ref()).await?;
        Ok(Self {
            pool,
            encryption: encryption.map(Arc::new),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether this store's connections are encrypted (TLS), as the server reports it.
    pub async fn uses_tls(&self) -> Result<bool> {
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&self.pool)
            .await
            .map_err(storage_error("cannot read the connection's TLS state"))
    }

    fn encode(&self, key: &TokenKey, tokens: &TokenSet) -> Result<Row> {
        codec::encode(tokens, &Binding::token_set(key), self.encryption.as_deref())
    }

    async fn outcome(&self, key: &TokenKey, version: Option<i64>) -> Result<CasOutcome> {
        rows::outcome(self, key, version).await
    }
}

/// A lease's time to live in milliseconds, cut to [`oauth_core::store::MAX_LEASE_TTL`] (as a
/// float: PostgreSQL multiplies an interval by a `double precision`).
fn ttl_ms(ttl: Duration) -> f64 {
    ttl.min(oauth_core::store::MAX_LEASE_TTL).as_millis() as f64
}

/// Writes a token set unconditionally (insert, or replace and clear the mark); its new version.
async fn upsert<'e, E>(
    executor: E,
    key: &TokenKey,
    row: Row,
    expires: Option<i64>,
) -> sqlx::Result<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
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
        .bind(expires)
        .fetch_one(executor)
        .await
}

/// Deletes an installation's record, token sets, and (expiring them, so fences keep growing) its
/// leases; whether anything existed.
async fn remove_installation(
    tx: &mut sqlx::PgConnection,
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

const WRITE: &str = "cannot write to the PostgreSQL token store";
const READ: &str = "cannot read from the PostgreSQL token store";

#[async_trait]
impl TokenStore for PostgresTokenStore {
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>> {
        let row = sqlx::query(sql::GET)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(READ))?;
        row.map(|row| rows::read(key, &row, self.encryption.as_deref()))
            .transpose()
    }

    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64> {
        let row = self.encode(key, tokens)?;
        let version = upsert(&self.pool, key, row, rows::expiry_ms(tokens))
            .await
            .map_err(storage_error(WRITE))?;
        Ok(to_version(version))
    }

    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>> {
        let record: RecordRow =
            codec::encode_record(&grant.installation, self.encryption.as_deref())?;
        let mut rows = Vec::with_capacity(grant.tokens.len());
        for granted in &grant.tokens {
            let key = grant.token_key(granted.principal.clone());
            let row = self.encode(&key, &granted.tokens)?;
            rows.push((key, row, rows::expiry_ms(&granted.tokens)));
        }
        let installation = &grant.installation.key;
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        // An install replaces the record; a grant of user token sets only leaves it.
        const INSERT: &str = "INSERT INTO oauth_installation_records (provider, installation_key, enterprise_id, details, secrets, key_id, installed_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::double precision / 1000), now()) \
             ON CONFLICT (provider, installation_key) ";
        let sql = if grant.is_install() {
            format!(
                "{INSERT}DO UPDATE SET enterprise_id = EXCLUDED.enterprise_id, \
                   details = EXCLUDED.details, secrets = EXCLUDED.secrets, key_id = EXCLUDED.key_id, \
                   installed_at = EXCLUDED.installed_at, updated_at = now()"
            )
        } else {
            format!("{INSERT}DO NOTHING")
        };
        sqlx::query(&sql)
            .bind(installation.provider().as_str())
            .bind(installation.key())
            .bind(record.enterprise_id)
            .bind(record.details)
            .bind(record.secrets)
            .bind(record.key_id)
            .bind(to_ms(grant.installation.installed_at))
            .execute(&mut *tx)
            .await
            .map_err(storage_error(WRITE))?;
        let mut written = Vec::with_capacity(rows.len());
        for (key, row, expires) in rows {
            let version = upsert(&mut *tx, &key, row, expires)
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
            .map_err(storage_error(
                "cannot delete from the PostgreSQL token store",
            ))?;
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
            .map_err(storage_error("cannot list the PostgreSQL token store"))?;
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
                "cannot read the due token sets of the PostgreSQL token store",
            ))?;
        rows::due_tokens(found)
    }

    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        let row = sqlx::query(sql::INSTALLATION)
            .bind(key.provider().as_str())
            .bind(key.key())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(READ))?;
        row.map(|row| rows::read_record(key, &row, self.encryption.as_deref()))
            .transpose()
    }

    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        let principals: Vec<String> = sqlx::query_scalar(sql::TOKEN_KEYS)
            .bind(installation.provider().as_str())
            .bind(installation.key())
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error(READ))?;
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
        let mut tx = self.pool.begin().await.map_err(storage_error(WRITE))?;
        let existed = remove_installation(&mut tx, installation)
            .await
            .map_err(storage_error(WRITE))?;
        tx.commit().await.map_err(storage_error(WRITE))?;
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
            .map_err(storage_error("cannot list the PostgreSQL token store"))?;
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
        let row: Option<(i64, i64)> = sqlx::query_as(sql::ACQUIRE_LEASE)
            .bind(key.provider().as_str())
            .bind(key.installation().key())
            .bind(key.principal().to_string())
            .bind(holder)
            .bind(ttl_ms(ttl))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(
                "cannot take a lease in the PostgreSQL token store",
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
        // Still ours if no other holder was granted it since (same fence) and it was not
        // released (a release sets the expiry to -infinity; a lapse leaves a real time).
        let expires_at: Option<i64> = sqlx::query_scalar(sql::RENEW_LEASE)
            .bind(lease.key.provider().as_str())
            .bind(lease.key.installation().key())
            .bind(lease.key.principal().to_string())
            .bind(i64::try_from(lease.fence).unwrap_or(-1))
            .bind(&lease.holder)
            .bind(ttl_ms(ttl))
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error(
                "cannot renew a lease in the PostgreSQL token store",
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
                "cannot release a lease in the PostgreSQL token store",
            ))?;
        Ok(())
    }
}
