//! The shared store: PostgreSQL, for many replicas.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oauth_core::{
    CasOutcome, Error, InstallationKey, Lease, ProviderId, Result, StoredInstallation, TokenSet,
    TokenStore,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};

use crate::codec::{self, Encryption, Row};
use crate::migrate::{migrator, storage_error};
use crate::rows::{self, from_ms, to_version};

/// A [`TokenStore`] in PostgreSQL, shared by every replica of an application.
///
/// Compare-and-swap is one `UPDATE … WHERE version = $expected`; the refresh lease is one upsert
/// whose condition (`expires_at <= clock_timestamp()` or same holder) is evaluated under the row
/// lock, so two replicas can never both hold it, and lease times come from the database clock so
/// that replicas with skewed clocks agree. A lease whose holder died lapses after its time to live.
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
        if requires_tls(&options) && !cfg!(feature = "postgres-tls") {
            return Err(Error::configuration(
                "the PostgreSQL URL requires TLS (`sslmode=require`, `verify-ca` or `verify-full`) \
                 but oauth-store was built without its `postgres-tls` feature: enable it",
            ));
        }
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| match tls_failure(&e) {
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

    /// Uses an existing pool (applies the migrations).
    pub async fn from_pool(pool: PgPool, encryption: Option<Encryption>) -> Result<Self> {
        migrator(include_str!("../migrations/postgres/0001_init.sql"))
            .run(&pool)
            .await
            .map_err(|e| Error::storage("cannot migrate the PostgreSQL token store", e))?;
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

    fn encode(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<Row> {
        codec::encode(tokens, key, self.encryption.as_deref())
    }

    fn read(&self, key: &InstallationKey, row: &PgRow) -> Result<StoredInstallation> {
        rows::read(key, row, self.encryption.as_deref())
    }

    async fn outcome(&self, key: &InstallationKey, version: Option<i64>) -> Result<CasOutcome> {
        rows::outcome(self, key, version).await
    }
}

#[async_trait]
impl TokenStore for PostgresTokenStore {
    async fn get(&self, key: &InstallationKey) -> Result<Option<StoredInstallation>> {
        let row = sqlx::query(
            "SELECT version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, \
               (extract(epoch from updated_at) * 1000)::bigint AS updated_at_ms \
             FROM oauth_installations WHERE provider = $1 AND installation_key = $2",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot read from the PostgreSQL token store"))?;
        row.map(|row| self.read(key, &row)).transpose()
    }

    async fn save(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<u64> {
        let row = self.encode(key, tokens)?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO oauth_installations (provider, installation_key, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $5, $6, NULL, now()) \
             ON CONFLICT (provider, installation_key) DO UPDATE SET version = oauth_installations.version + 1, \
               access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, key_id = EXCLUDED.key_id, \
               token_meta = EXCLUDED.token_meta, needs_reauthorization = NULL, updated_at = now() \
             RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(row.access_token)
        .bind(row.refresh_token)
        .bind(row.key_id)
        .bind(row.token_meta)
        .fetch_one(&self.pool)
        .await
        .map_err(storage_error("cannot write to the PostgreSQL token store"))?;
        Ok(to_version(version))
    }

    async fn compare_and_swap(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        let row = self.encode(key, tokens)?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE oauth_installations SET version = version + 1, access_token = $3, refresh_token = $4, key_id = $5, \
               token_meta = $6, needs_reauthorization = NULL, updated_at = now() \
             WHERE provider = $1 AND installation_key = $2 AND version = $7 RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(row.access_token)
        .bind(row.refresh_token)
        .bind(row.key_id)
        .bind(row.token_meta)
        .bind(i64::try_from(expected_version).unwrap_or(-1))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot write to the PostgreSQL token store"))?;
        self.outcome(key, version).await
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE oauth_installations SET version = version + 1, needs_reauthorization = $3, updated_at = now() \
             WHERE provider = $1 AND installation_key = $2 AND version = $4 RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(reason)
        .bind(i64::try_from(expected_version).unwrap_or(-1))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot write to the PostgreSQL token store"))?;
        self.outcome(key, version).await
    }

    async fn delete(&self, key: &InstallationKey) -> Result<bool> {
        let result = sqlx::query(
            "DELETE FROM oauth_installations WHERE provider = $1 AND installation_key = $2",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .execute(&self.pool)
        .await
        .map_err(storage_error(
            "cannot delete from the PostgreSQL token store",
        ))?;
        Ok(result.rows_affected() > 0)
    }

    async fn list(&self, provider: Option<&ProviderId>) -> Result<Vec<InstallationKey>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT provider, installation_key FROM oauth_installations WHERE $1::text IS NULL OR provider = $1",
        )
        .bind(provider.map(ProviderId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(storage_error("cannot list the PostgreSQL token store"))?;
        let mut keys: Vec<InstallationKey> = rows
            .into_iter()
            .map(|(provider, key)| InstallationKey::new(ProviderId::new(provider), key))
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn try_acquire_lease(
        &self,
        key: &InstallationKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "INSERT INTO oauth_leases (provider, installation_key, holder, expires_at, fence) \
             VALUES ($1, $2, $3, clock_timestamp() + $4 * interval '1 millisecond', 1) \
             ON CONFLICT (provider, installation_key) DO UPDATE SET holder = EXCLUDED.holder, \
               expires_at = EXCLUDED.expires_at, fence = oauth_leases.fence + 1 \
             WHERE oauth_leases.expires_at <= clock_timestamp() OR oauth_leases.holder = EXCLUDED.holder \
             RETURNING fence, (extract(epoch from expires_at) * 1000)::bigint",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(holder)
        .bind(ttl_ms(ttl))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot take a lease in the PostgreSQL token store"))?;
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
        let expires_at: Option<i64> = sqlx::query_scalar(
            "UPDATE oauth_leases SET expires_at = clock_timestamp() + $5 * interval '1 millisecond' \
             WHERE provider = $1 AND installation_key = $2 AND fence = $3 AND holder = $4 \
               AND expires_at > '-infinity' \
             RETURNING (extract(epoch from expires_at) * 1000)::bigint",
        )
        .bind(lease.key.provider().as_str())
        .bind(lease.key.key())
        .bind(i64::try_from(lease.fence).unwrap_or(-1))
        .bind(&lease.holder)
        .bind(ttl_ms(ttl))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot renew a lease in the PostgreSQL token store"))?;
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
        sqlx::query(
            "UPDATE oauth_leases SET expires_at = '-infinity' \
             WHERE provider = $1 AND installation_key = $2 AND fence = $3 AND holder = $4",
        )
        .bind(lease.key.provider().as_str())
        .bind(lease.key.key())
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

/// A lease's time to live in milliseconds, cut to [`oauth_core::store::MAX_LEASE_TTL`] (as a
/// float: PostgreSQL multiplies an interval by a `double precision`).
fn ttl_ms(ttl: Duration) -> f64 {
    ttl.min(oauth_core::store::MAX_LEASE_TTL).as_millis() as f64
}

/// What failed, if `error` is a failed TLS handshake or TLS set-up (sqlx reports a handshake's
/// failure as an I/O error holding rustls's).
fn tls_failure(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Tls(tls) => Some(tls.to_string()),
        #[cfg(feature = "postgres-tls")]
        sqlx::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(ToString::to_string),
        _ => None,
    }
}

/// Whether `options` refuse a connection without TLS.
fn requires_tls(options: &PgConnectOptions) -> bool {
    matches!(
        options.get_ssl_mode(),
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_modes_that_refuse_clear_text_require_tls() {
        for (mode, required) in [
            ("disable", false),
            ("allow", false),
            ("prefer", false),
            ("require", true),
            ("verify-ca", true),
            ("verify-full", true),
        ] {
            let options =
                PgConnectOptions::from_str(&format!("postgres://u@db.example/app?sslmode={mode}"))
                    .expect("a URL");
            assert_eq!(requires_tls(&options), required, "{mode}");
        }
        let default = PgConnectOptions::from_str("postgres://u@db.example/app").expect("a URL");
        assert!(!requires_tls(&default));
    }
}
