//! [`MemoryTokenStore`]: the token store in process memory.
//!
//! Rows live in a `HashMap`, so reading or writing one token set costs the same at ten rows as at
//! a million. Two ordered indexes sit beside it: every key in byte order (pages, and an
//! installation's keys as one range of it) and the rows [`TokenStore::due_for_refresh`] can
//! return, in its order. Only [`Inner::insert_row`], [`Inner::update_row`] and
//! [`Inner::remove_row`] change rows, and each keeps both indexes true.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::{
    CasOutcome, DueToken, Lease, Page, StoredTokenSet, TokenStore, lease_expiry, page_limit,
};
use crate::clock::{Clock, SystemClock};
use crate::error::Result;
use crate::installation::{Grant, Installation, InstallationKey, Principal, TokenKey};
use crate::token::{ProviderId, TokenSet};

#[derive(Debug)]
struct LeaseEntry {
    holder: String,
    expires_at: SystemTime,
    fence: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Boxed: the table stays small, and so does its slack and a resize.
    token_sets: HashMap<TokenKey, Box<StoredTokenSet>>,
    /// Every key of `token_sets`, in order.
    order: BTreeSet<TokenKey>,
    /// The rows a refresher may refresh (a refresh token, an expiry, no mark), in the order of
    /// `due_for_refresh`.
    due: BTreeSet<DueToken>,
    installations: BTreeMap<InstallationKey, Installation>,
    leases: HashMap<TokenKey, LeaseEntry>,
    fences: HashMap<TokenKey, u64>,
}

/// The entry of `stored` in the due index, if it belongs there.
fn due_entry(stored: &StoredTokenSet) -> Option<DueToken> {
    let expires_at = stored.tokens.expires_at?;
    (stored.tokens.refresh_token.is_some() && stored.needs_reauthorization.is_none())
        .then(|| DueToken::new(stored.key.clone(), expires_at))
}

impl Inner {
    /// Writes `stored` in place of its key's row, if any.
    fn insert_row(&mut self, stored: StoredTokenSet) {
        let entry = due_entry(&stored);
        let key = stored.key.clone();
        match self.token_sets.insert(key.clone(), Box::new(stored)) {
            Some(old) => {
                if let Some(old) = due_entry(&old) {
                    self.due.remove(&old);
                }
            }
            None => {
                self.order.insert(key);
            }
        }
        if let Some(entry) = entry {
            self.due.insert(entry);
        }
    }

    /// Changes the row of `key` with `change`, if there is one; the row after, if any.
    fn update_row(
        &mut self,
        key: &TokenKey,
        change: impl FnOnce(&mut StoredTokenSet),
    ) -> Option<&StoredTokenSet> {
        let current = self.token_sets.get_mut(key)?;
        if let Some(old) = due_entry(current) {
            self.due.remove(&old);
        }
        change(current);
        if let Some(entry) = due_entry(current) {
            self.due.insert(entry);
        }
        Some(current)
    }

    /// Removes the row of `key` and its lease; whether there was a row.
    fn remove_row(&mut self, key: &TokenKey) -> bool {
        self.leases.remove(key);
        let Some(old) = self.token_sets.remove(key) else {
            return false;
        };
        // A table a quarter full gives memory back (halved at most once per halving: amortized
        // constant).
        if self.token_sets.len() < self.token_sets.capacity() / 4 {
            self.token_sets.shrink_to(self.token_sets.len() * 2);
        }
        self.order.remove(key);
        if let Some(old) = due_entry(&old) {
            self.due.remove(&old);
        }
        true
    }

    fn put(&mut self, key: &TokenKey, tokens: &TokenSet, now: SystemTime) -> u64 {
        let version = self
            .token_sets
            .get(key)
            .map_or(1, |stored| stored.version + 1);
        self.insert_row(StoredTokenSet {
            key: key.clone(),
            tokens: tokens.clone(),
            version,
            needs_reauthorization: None,
            updated_at: now,
        });
        version
    }

    fn conditionally(
        &mut self,
        key: &TokenKey,
        expected_version: u64,
        now: SystemTime,
        write: impl FnOnce(&mut StoredTokenSet),
    ) -> CasOutcome {
        let current = self.token_sets.get(key);
        if current.is_none_or(|current| current.version != expected_version) {
            return CasOutcome::Conflict {
                current: current.cloned(),
            };
        }
        self.update_row(key, |current| {
            write(current);
            current.version += 1;
            current.updated_at = now;
        })
        .map_or(CasOutcome::Conflict { current: None }, |current| {
            CasOutcome::Swapped {
                version: current.version,
            }
        })
    }

    /// The keys of `installation`'s token sets: one range of the ordered keys (an installation's
    /// keys sort together, its bot's first).
    fn token_keys(&self, installation: &InstallationKey) -> Vec<TokenKey> {
        let first = TokenKey::new(installation.clone(), Principal::Bot);
        self.order
            .range(first..)
            .take_while(|key| key.installation() == installation)
            .cloned()
            .collect()
    }

    fn of_enterprise(&self, provider: &ProviderId, enterprise_id: &str) -> Vec<InstallationKey> {
        self.installations
            .values()
            .filter(|i| i.key.provider() == provider)
            .filter(|i| i.enterprise_id.as_deref() == Some(enterprise_id))
            .map(|i| i.key.clone())
            .collect()
    }

    fn remove_installation(&mut self, installation: &InstallationKey) -> bool {
        let keys = self.token_keys(installation);
        for key in &keys {
            self.remove_row(key);
        }
        self.installations.remove(installation).is_some() || !keys.is_empty()
    }
}

/// A [`TokenStore`] in process memory: for tests, single-process tools, and as the reference the
/// database stores are checked against. Nothing survives the process.
pub struct MemoryTokenStore {
    inner: Mutex<Inner>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryTokenStore")
            .field("installations", &inner.installations.len())
            .field("token_sets", &inner.token_sets.len())
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
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>> {
        Ok(self
            .lock()
            .token_sets
            .get(key)
            .map(|stored| (**stored).clone()))
    }

    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64> {
        let now = self.clock.now();
        Ok(self.lock().put(key, tokens, now))
    }

    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if grant.is_install() || !inner.installations.contains_key(&grant.installation.key) {
            inner
                .installations
                .insert(grant.installation.key.clone(), grant.installation.clone());
        }
        Ok(grant
            .tokens
            .iter()
            .map(|granted| {
                let key = grant.token_key(granted.principal.clone());
                let version = inner.put(&key, &granted.tokens, now);
                (key, version)
            })
            .collect())
    }

    async fn compare_and_swap(
        &self,
        key: &TokenKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .conditionally(key, expected_version, now, |current| {
                current.tokens = tokens.clone();
                current.needs_reauthorization = None;
            }))
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &TokenKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        let now = self.clock.now();
        Ok(self
            .lock()
            .conditionally(key, expected_version, now, |current| {
                current.needs_reauthorization = Some(reason.to_owned());
            }))
    }

    async fn delete(&self, key: &TokenKey) -> Result<bool> {
        Ok(self.lock().remove_row(key))
    }

    async fn list_page(
        &self,
        provider: Option<&ProviderId>,
        after: Option<&TokenKey>,
        limit: usize,
    ) -> Result<Page> {
        let limit = page_limit(limit);
        let inner = self.lock();
        // Keys are ordered by provider first: a provider's keys are one range, starting at its
        // smallest possible key.
        let first = provider.map(|p| TokenKey::bot(InstallationKey::new(p.clone(), String::new())));
        let from = match (after, first) {
            (Some(after), Some(first)) if &first > after => Bound::Included(first),
            (Some(after), _) => Bound::Excluded(after.clone()),
            (None, Some(first)) => Bound::Included(first),
            (None, None) => Bound::Unbounded,
        };
        let keys = inner
            .order
            .range((from, Bound::Unbounded))
            .take_while(|k| provider.is_none_or(|p| k.provider() == p))
            .take(limit)
            .cloned()
            .collect();
        Ok(Page::new(keys, limit))
    }

    async fn due_for_refresh(
        &self,
        before: SystemTime,
        after: Option<&DueToken>,
        limit: usize,
    ) -> Result<Vec<DueToken>> {
        let limit = page_limit(limit);
        let from = after.map_or(Bound::Unbounded, |after| Bound::Excluded(after.clone()));
        Ok(self
            .lock()
            .due
            .range((from, Bound::Unbounded))
            .take_while(|due| due.expires_at <= before)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        Ok(self.lock().installations.get(key).cloned())
    }

    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        Ok(self.lock().token_keys(installation))
    }

    async fn delete_installation(&self, installation: &InstallationKey) -> Result<bool> {
        Ok(self.lock().remove_installation(installation))
    }

    async fn enterprise_installations(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        Ok(self.lock().of_enterprise(provider, enterprise_id))
    }

    async fn delete_enterprise(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        let mut inner = self.lock();
        let keys = inner.of_enterprise(provider, enterprise_id);
        for key in &keys {
            inner.remove_installation(key);
        }
        Ok(keys)
    }

    async fn try_acquire_lease(
        &self,
        key: &TokenKey,
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
