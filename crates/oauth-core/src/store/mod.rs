//! Where installations' tokens live: the [`TokenStore`] trait, its refresh lease, and the in-memory
//! store.
//!
//! Every write is versioned. A refresh reads the installation with its version, refreshes, and
//! writes the rotated tokens back with [`TokenStore::compare_and_swap`]: if another task or process
//! wrote first, the swap fails and the caller re-reads instead of overwriting (or refreshing again
//! with a spent single-use refresh token). Across processes, the refresh lease
//! ([`TokenStore::try_acquire_lease`]) lets exactly one holder refresh an installation at a time; a
//! lease whose holder died expires after its time to live.

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
#[cfg(feature = "faults")]
#[cfg_attr(docsrs, doc(cfg(feature = "faults")))]
pub mod faults;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::clock::{Clock, SystemClock};
use crate::error::Result;
pub use crate::installation::InstallationKey;
use crate::token::{ProviderId, TokenSet};

/// An installation as stored, with the version that guards its next write.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct StoredInstallation {
    /// Its key.
    pub key: InstallationKey,
    /// The current tokens.
    pub tokens: TokenSet,
    /// Incremented by every write; pass it to [`TokenStore::compare_and_swap`].
    pub version: u64,
    /// Set when a refresh was refused for good (`invalid_grant`, a spent refresh token…): the
    /// reason, in the provider's words. The user must install again; saving a new token set clears it.
    pub needs_reauthorization: Option<String>,
    /// When it was last written.
    pub updated_at: SystemTime,
}

impl StoredInstallation {
    /// A stored installation at `version`, not marked, updated now.
    pub fn new(key: InstallationKey, tokens: TokenSet, version: u64) -> Self {
        Self {
            key,
            tokens,
            version,
            needs_reauthorization: None,
            updated_at: SystemTime::now(),
        }
    }
}

/// The result of a conditional write.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CasOutcome {
    /// Written; the new version.
    Swapped {
        /// The version after the write.
        version: u64,
    },
    /// Not written: the installation changed (or vanished) since the expected version was read.
    Conflict {
        /// What is stored now, if anything.
        current: Option<Box<StoredInstallation>>,
    },
}

/// An exclusive right to refresh one installation until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// The installation.
    pub key: InstallationKey,
    /// Who holds it (a process or task id).
    pub holder: String,
    /// When it lapses if not released.
    pub expires_at: SystemTime,
    /// A number that grows with every grant of a lease on this installation (a fencing token).
    pub fence: u64,
}

impl Lease {
    /// A lease of `key` held by `holder` until `expires_at`, with its fence.
    pub fn new(key: InstallationKey, holder: String, expires_at: SystemTime, fence: u64) -> Self {
        Self {
            key,
            holder,
            expires_at,
            fence,
        }
    }
}

/// Storage of installations' tokens, shared by every task and process of an application.
///
/// Implementations: [`MemoryTokenStore`] here; SQLite and PostgreSQL in `oauth-store`. All must
/// pass the same behaviour; writes are atomic (a reader sees the old token set or the new one,
/// never a mix).
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// Reads an installation.
    async fn get(&self, key: &InstallationKey) -> Result<Option<StoredInstallation>>;

    /// Writes an installation unconditionally (after a code exchange), clearing any
    /// re-authorization mark. Returns the new version.
    async fn save(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<u64>;

    /// Writes `tokens` only if the stored version is still `expected_version`.
    async fn compare_and_swap(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome>;

    /// Marks the installation as needing re-authorization, if still at `expected_version`.
    async fn mark_needs_reauthorization(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome>;

    /// Deletes an installation; whether it existed.
    async fn delete(&self, key: &InstallationKey) -> Result<bool>;

    /// The installations of `provider` (or of every provider), ordered by key.
    async fn list(&self, provider: Option<&ProviderId>) -> Result<Vec<InstallationKey>>;

    /// Takes the refresh lease of `key` for `ttl` if nobody holds an unexpired one (the same
    /// holder may take it again). `None` if another holder has it.
    async fn try_acquire_lease(
        &self,
        key: &InstallationKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>>;

    /// Extends `lease` to `ttl` from now, if it is still this holder's: no other holder has been
    /// granted the installation's lease since (its fence is unchanged). The fence stays the same.
    /// `None` if the lease was lost (it lapsed and another holder took it). The token manager
    /// calls it while a refresh runs, so that a slow refresh keeps its lease.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>>;

    /// Gives the lease back early. Releasing a lease that lapsed and was taken by another holder
    /// does nothing.
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
}

/// The longest lease a store grants: a longer time to live is cut to this (100 years), so that a
/// huge duration neither overflows time arithmetic nor falls back to "already lapsed".
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + ttl`, with `ttl` cut to [`MAX_LEASE_TTL`]: the expiry of a lease granted at `now`.
pub fn lease_expiry(now: SystemTime, ttl: Duration) -> SystemTime {
    let ttl = ttl.min(MAX_LEASE_TTL);
    now.checked_add(ttl)
        .unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
}

#[derive(Debug)]
struct LeaseEntry {
    holder: String,
    expires_at: SystemTime,
    fence: u64,
}

#[derive(Debug, Default)]
struct Inner {
    installations: HashMap<InstallationKey, StoredInstallation>,
    leases: HashMap<InstallationKey, LeaseEntry>,
    fences: HashMap<InstallationKey, u64>,
}

/// A [`TokenStore`] in process memory: for tests, single-process tools, and as the reference the
/// database stores are checked against. Nothing survives the process.
pub struct MemoryTokenStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTokenStore")
            .field("installations", &self.lock().installations.len())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTokenStore {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// An empty store on `clock` (lease expiry and `updated_at` follow it).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, key: &InstallationKey) -> Result<Option<StoredInstallation>> {
        Ok(self.lock().installations.get(key).cloned())
    }

    async fn save(&self, key: &InstallationKey, tokens: &TokenSet) -> Result<u64> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let version = inner.installations.get(key).map_or(1, |i| i.version + 1);
        inner.installations.insert(
            key.clone(),
            StoredInstallation {
                key: key.clone(),
                tokens: tokens.clone(),
                version,
                needs_reauthorization: None,
                updated_at: now,
            },
        );
        Ok(version)
    }

    async fn compare_and_swap(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.installations.get_mut(key) {
            Some(current) if current.version == expected_version => {
                current.tokens = tokens.clone();
                current.version += 1;
                current.needs_reauthorization = None;
                current.updated_at = now;
                Ok(CasOutcome::Swapped {
                    version: current.version,
                })
            }
            current => Ok(CasOutcome::Conflict {
                current: current.map(|c| Box::new(c.clone())),
            }),
        }
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &InstallationKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        let now = self.clock.now();
        let mut inner = self.lock();
        match inner.installations.get_mut(key) {
            Some(current) if current.version == expected_version => {
                current.needs_reauthorization = Some(reason.to_owned());
                current.version += 1;
                current.updated_at = now;
                Ok(CasOutcome::Swapped {
                    version: current.version,
                })
            }
            current => Ok(CasOutcome::Conflict {
                current: current.map(|c| Box::new(c.clone())),
            }),
        }
    }

    async fn delete(&self, key: &InstallationKey) -> Result<bool> {
        let mut inner = self.lock();
        inner.leases.remove(key);
        Ok(inner.installations.remove(key).is_some())
    }

    async fn list(&self, provider: Option<&ProviderId>) -> Result<Vec<InstallationKey>> {
        let mut keys: Vec<InstallationKey> = self
            .lock()
            .installations
            .keys()
            .filter(|k| provider.is_none_or(|p| k.provider() == p))
            .cloned()
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
        let now = self.clock.now();
        let expires_at = lease_expiry(now, ttl);
        let mut inner = self.lock();
        if let Some(current) = inner.leases.get(key)
            && current.expires_at > now
            && current.holder != holder
        {
            return Ok(None);
        }
        let fence = inner.fences.entry(key.clone()).or_insert(0);
        *fence += 1;
        let fence = *fence;
        inner.leases.insert(
            key.clone(),
            LeaseEntry {
                holder: holder.to_owned(),
                expires_at,
                fence,
            },
        );
        Ok(Some(Lease {
            key: key.clone(),
            holder: holder.to_owned(),
            expires_at,
            fence,
        }))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        let expires_at = lease_expiry(self.clock.now(), ttl);
        let mut inner = self.lock();
        match inner.leases.get_mut(&lease.key) {
            Some(current) if current.fence == lease.fence && current.holder == lease.holder => {
                current.expires_at = expires_at;
                Ok(Some(Lease {
                    expires_at,
                    ..lease.clone()
                }))
            }
            _ => Ok(None),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut inner = self.lock();
        if inner
            .leases
            .get(&lease.key)
            .is_some_and(|current| current.fence == lease.fence)
        {
            inner.leases.remove(&lease.key);
        }
        Ok(())
    }
}
