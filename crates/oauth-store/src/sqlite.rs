//! The embedded store: one SQLite file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use oauth_core::{
    CasOutcome, Error, InstallationKey, Lease, ProviderId, Result, StoredInstallation, TokenSet,
    TokenStore,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row as _, SqlitePool};

use crate::codec::{self, Encryption, Row};
use crate::migrate::{migrator, storage_error};
use crate::rows::{self, from_ms, to_version};

/// A [`TokenStore`] in one SQLite file: the embedded default.
///
/// The file is owner-only on Unix: created with mode 0600 (missing directories with 0700), and an
/// existing file, `-wal` or `-shm` that other users may read is set to 0600 when the store is
/// opened (or, if its mode cannot be changed, the open fails with a configuration error). It uses
/// WAL journaling (readers do not block the writer) and `synchronous = FULL`; every write is one statement, so a process
/// killed at any point leaves each installation with its old or its new token set, never a mix.
/// Leases expire on this machine's clock: SQLite is for processes of one machine.
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
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl SqliteTokenStore {
    /// Opens (creating it and its directories if needed, owner-only) the store at `path`,
    /// without encryption.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, None).await
    }

    /// Opens the store at `path`; with `encryption`, every secret column is encrypted.
    pub async fn open_with(path: impl AsRef<Path>, encryption: Option<Encryption>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        create_private(&path).await?;
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
        migrator(include_str!("../migrations/sqlite/0001_init.sql"))
            .run(&pool)
            .await
            .map_err(|e| Error::storage("cannot migrate the SQLite token store", e))?;
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

    fn encode(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<Row> {
        codec::encode(tokens, key, self.encryption.as_deref())
    }

    fn read(&self, key: &InstallationKey, row: &SqliteRow) -> Result<StoredInstallation> {
        rows::read(key, row, self.encryption.as_deref())
    }
}

/// Makes the database owner-only before SQLite opens it: missing directories are created with
/// mode 0700, a missing file with mode 0600, and an existing file, `-wal` or `-shm` that other
/// users may read is set to 0600 (SQLite gives the `-wal` and `-shm` it creates the database's
/// mode). A mode that cannot be changed is refused with a configuration error.
async fn create_private(path: &Path) -> Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || private_files(&path))
        .await
        .map_err(|e| {
            Error::Internal(format!(
                "the file-mode check of the SQLite store failed: {e}"
            ))
        })?
}

fn private_files(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        let mut directories = std::fs::DirBuilder::new();
        directories.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut directories, 0o700);
        directories
            .create(parent)
            .map_err(|e| Error::storage(format!("cannot create {}", parent.display()), e))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::storage(
                format!("cannot create {}", path.display()),
                e,
            ));
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        owner_only(Path::new(&format!("{}{suffix}", path.display())))?;
    }
    Ok(())
}

/// Sets `file` (if it exists) to 0600 if other users may read or write it.
#[cfg(unix)]
fn owner_only(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = match std::fs::metadata(file) {
        Ok(metadata) => metadata.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::storage(format!("cannot read {}", file.display()), e)),
    };
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::configuration(format!(
            "{} holds tokens and other users may read it (mode {mode:o}), and its mode cannot be \
             set to 600 ({e}): make it owner-only (chmod 600) or choose a path of your own",
            file.display()
        ))
    })?;
    tracing::warn!(
        file = %file.display(),
        "the token store was open to other users (mode {mode:o}): set to 600"
    );
    Ok(())
}

#[cfg(not(unix))]
fn owner_only(_file: &Path) -> Result<()> {
    Ok(())
}

const SELECT: &str = "SELECT version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at_ms \
     FROM oauth_installations WHERE provider = ?1 AND installation_key = ?2";

#[async_trait]
impl TokenStore for SqliteTokenStore {
    async fn get(&self, key: &InstallationKey) -> Result<Option<StoredInstallation>> {
        let row = sqlx::query(SELECT)
            .bind(key.provider().as_str())
            .bind(key.key())
            .fetch_optional(&self.pool)
            .await
            .map_err(storage_error("cannot read from the SQLite token store"))?;
        row.map(|row| self.read(key, &row)).transpose()
    }

    async fn save(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<u64> {
        let row = self.encode(key, tokens)?;
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO oauth_installations (provider, installation_key, version, access_token, refresh_token, key_id, token_meta, needs_reauthorization, updated_at_ms) \
             VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, NULL, ?7) \
             ON CONFLICT (provider, installation_key) DO UPDATE SET version = oauth_installations.version + 1, \
               access_token = excluded.access_token, refresh_token = excluded.refresh_token, key_id = excluded.key_id, \
               token_meta = excluded.token_meta, needs_reauthorization = NULL, updated_at_ms = excluded.updated_at_ms \
             RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(row.access_token)
        .bind(row.refresh_token)
        .bind(row.key_id)
        .bind(row.token_meta)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(storage_error("cannot write to the SQLite token store"))?;
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
            "UPDATE oauth_installations SET version = version + 1, access_token = ?3, refresh_token = ?4, key_id = ?5, \
               token_meta = ?6, needs_reauthorization = NULL, updated_at_ms = ?7 \
             WHERE provider = ?1 AND installation_key = ?2 AND version = ?8 RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(row.access_token)
        .bind(row.refresh_token)
        .bind(row.key_id)
        .bind(row.token_meta)
        .bind(now_ms())
        .bind(i64::try_from(expected_version).unwrap_or(-1))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot write to the SQLite token store"))?;
        self.outcome(key, version).await
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE oauth_installations SET version = version + 1, needs_reauthorization = ?3, updated_at_ms = ?4 \
             WHERE provider = ?1 AND installation_key = ?2 AND version = ?5 RETURNING version",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(reason)
        .bind(now_ms())
        .bind(i64::try_from(expected_version).unwrap_or(-1))
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot write to the SQLite token store"))?;
        self.outcome(key, version).await
    }

    async fn delete(&self, key: &InstallationKey) -> Result<bool> {
        let result = sqlx::query(
            "DELETE FROM oauth_installations WHERE provider = ?1 AND installation_key = ?2",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .execute(&self.pool)
        .await
        .map_err(storage_error("cannot delete from the SQLite token store"))?;
        Ok(result.rows_affected() > 0)
    }

    async fn list(&self, provider: Option<&ProviderId>) -> Result<Vec<InstallationKey>> {
        let rows = sqlx::query("SELECT provider, installation_key FROM oauth_installations WHERE ?1 IS NULL OR provider = ?1")
            .bind(provider.map(ProviderId::as_str))
            .fetch_all(&self.pool)
            .await
            .map_err(storage_error("cannot list the SQLite token store"))?;
        let mut keys = rows
            .iter()
            .map(|row| {
                let provider: String = row.try_get("provider")?;
                let key: String = row.try_get("installation_key")?;
                Ok(InstallationKey::new(ProviderId::new(provider), key))
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(storage_error("cannot list the SQLite token store"))?;
        keys.sort();
        Ok(keys)
    }

    async fn try_acquire_lease(
        &self,
        key: &InstallationKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let now = now_ms();
        let expires = now.saturating_add(ttl_ms(ttl));
        let row: Option<(i64, i64)> = sqlx::query_as(
            "INSERT INTO oauth_leases (provider, installation_key, holder, expires_at_ms, fence) VALUES (?1, ?2, ?3, ?4, 1) \
             ON CONFLICT (provider, installation_key) DO UPDATE SET holder = excluded.holder, \
               expires_at_ms = excluded.expires_at_ms, fence = oauth_leases.fence + 1 \
             WHERE oauth_leases.expires_at_ms <= ?5 OR oauth_leases.holder = excluded.holder \
             RETURNING fence, expires_at_ms",
        )
        .bind(key.provider().as_str())
        .bind(key.key())
        .bind(holder)
        .bind(expires)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot take a lease in the SQLite token store"))?;
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
        let expires_at: Option<i64> = sqlx::query_scalar(
            "UPDATE oauth_leases SET expires_at_ms = ?5 \
             WHERE provider = ?1 AND installation_key = ?2 AND fence = ?3 AND holder = ?4 AND expires_at_ms > 0 \
             RETURNING expires_at_ms",
        )
        .bind(lease.key.provider().as_str())
        .bind(lease.key.key())
        .bind(i64::try_from(lease.fence).unwrap_or(-1))
        .bind(&lease.holder)
        .bind(expires)
        .fetch_optional(&self.pool)
        .await
        .map_err(storage_error("cannot renew a lease in the SQLite token store"))?;
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
        sqlx::query("UPDATE oauth_leases SET expires_at_ms = 0 WHERE provider = ?1 AND installation_key = ?2 AND fence = ?3 AND holder = ?4")
            .bind(lease.key.provider().as_str())
            .bind(lease.key.key())
            .bind(i64::try_from(lease.fence).unwrap_or(-1))
            .bind(&lease.holder)
            .execute(&self.pool)
            .await
            .map_err(storage_error("cannot release a lease in the SQLite token store"))?;
        Ok(())
    }
}

impl SqliteTokenStore {
    async fn outcome(&self, key: &InstallationKey, version: Option<i64>) -> Result<CasOutcome> {
        rows::outcome(self, key, version).await
    }
}
