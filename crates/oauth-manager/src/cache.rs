//! The manager's cache of slots, one per token set in use: a fixed number of shards, each a
//! `HashMap` behind a `std::sync::RwLock`, so that a lookup, an insert and a removal cost the same
//! with ten token sets or a million (no copy of the whole map, no global lock); and how a slot is
//! found for a caller: only for a token set the store holds, never for an unknown key.
//!
//! Measured against `papaya`, `dashmap` and `scc` before choosing (docs/benchmarks.md, "Token
//! manager at scale", "Candidates for the cache"): on our shared 2-core machines none was faster
//! by a margin that held from one run to the next, and the sharded map needs no dependency.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use oauth_core::{Error, Result, StoredTokenSet, TokenKey};

use crate::manager::{Inner, TokenManager};
use crate::slot::Slot;

/// Shards: enough that two cores (or sixteen) rarely meet on one lock.
const SHARDS: usize = 64;

type Hasher = foldhash::fast::RandomState;
pub(crate) type Shard = HashMap<TokenKey, Arc<Slot>, Hasher>;

/// The slots, sharded by a hash of the key. foldhash is fast and seeded per process, so keys
/// derived from request data cannot be used for hash flooding; the shard is chosen with a hasher
/// of its own seed, so that the keys of one shard still spread over its map's buckets.
pub(crate) struct SlotCache {
    shard_of: Hasher,
    shards: Box<[RwLock<Shard>]>,
    len: AtomicUsize,
}

impl SlotCache {
    pub(crate) fn new() -> Self {
        Self {
            shard_of: Hasher::default(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            len: AtomicUsize::new(0),
        }
    }

    fn shard(&self, key: &TokenKey) -> &RwLock<Shard> {
        &self.shards[self.shard_of.hash_one(key) as usize % SHARDS]
    }

    pub(crate) fn read(&self, index: usize) -> Option<RwLockReadGuard<'_, Shard>> {
        let shard = self.shards.get(index)?;
        Some(
            shard
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(crate) fn write_shard_of(&self, key: &TokenKey) -> RwLockWriteGuard<'_, Shard> {
        self.shard(key)
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Runs `read` on `key`'s slot, without cloning it (the hot path: no shared counter is
    /// written).
    pub(crate) fn with<R>(&self, key: &TokenKey, read: impl FnOnce(&Arc<Slot>) -> R) -> Option<R> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        shard.get(key).map(read)
    }

    pub(crate) fn get(&self, key: &TokenKey) -> Option<Arc<Slot>> {
        self.with(key, Arc::clone)
    }

    /// `key`'s slot, made if there is none; whether it was made.
    pub(crate) fn get_or_insert(&self, key: &TokenKey) -> (Arc<Slot>, bool) {
        if let Some(slot) = self.get(key) {
            return (slot, false);
        }
        let mut shard = self.write_shard_of(key);
        if let Some(slot) = shard.get(key) {
            return (slot.clone(), false);
        }
        let slot = Arc::new(Slot::default());
        shard.insert(key.clone(), slot.clone());
        self.len.fetch_add(1, Ordering::Relaxed);
        (slot, true)
    }

    /// Removes `key` from a shard held for writing (the caller checked it may go).
    /// A shard whose map is at most a quarter full is shrunk to half its capacity (amortized:
    /// at least a quarter of the capacity was removed since it last grew or shrank), so that
    /// evicting or deleting everything gives the memory back.
    pub(crate) fn remove_from(&self, shard: &mut Shard, key: &TokenKey) {
        if shard.remove(key).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
            if shard.capacity() > 64 && shard.len() <= shard.capacity() / 4 {
                shard.shrink_to(shard.len() * 2);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

impl TokenManager {
    /// The number of token sets cached in this process (cheap: one atomic read). Only token sets
    /// the store held when they were first asked for are cached; idle ones leave by the eviction
    /// rule of [`ManagerConfig::idle_timeout`](crate::ManagerConfig::idle_timeout) and
    /// [`ManagerConfig::max_cached`](crate::ManagerConfig::max_cached), deleted ones at once.
    pub fn cached_len(&self) -> usize {
        self.inner.cache.len()
    }

    /// The slot of a token set the store holds: the cached one, or one made now and filled with
    /// the row just read. A key the store does not hold (or holds marked for re-authorization)
    /// gets its error and leaves nothing in the cache.
    pub(crate) async fn load(&self, key: &TokenKey) -> Result<Arc<Slot>> {
        if let Some(slot) = self.inner.cache.get(key) {
            return Ok(slot);
        }
        let stored = self.inner.stored(key).await?;
        let (slot, made) = self.inner.cache.get_or_insert(key);
        if made {
            self.inner.seed(&slot, &stored);
            self.inner.maybe_sweep();
        }
        Ok(slot)
    }

    /// `key`'s slot and its work lock, for a save or a removal: a slot evicted while this waited
    /// for the lock is left for a current one.
    pub(crate) async fn lock_work(
        &self,
        key: &TokenKey,
    ) -> (Arc<Slot>, tokio::sync::OwnedMutexGuard<()>) {
        loop {
            let (slot, _) = self.inner.cache.get_or_insert(key);
            let work = slot.work.clone().lock_owned().await;
            if !slot.is_evicted() {
                return (slot, work);
            }
        }
    }
}

impl Inner {
    /// The stored row of `key`, or the error a caller gets for it (unknown, marked).
    pub(crate) async fn stored(&self, key: &TokenKey) -> Result<StoredTokenSet> {
        let Some(stored) = self.store.get(key).await? else {
            return Err(Error::InstallationNotFound {
                installation: key.to_string(),
            });
        };
        if let Some(reason) = &stored.needs_reauthorization {
            return Err(Error::NeedsReauthorization {
                installation: key.to_string(),
                reason: reason.clone(),
            });
        }
        Ok(stored)
    }

    /// Fills a slot just made with the row read for it, unless something (a refresh, a save)
    /// filled it meanwhile: that is newer than this read.
    fn seed(&self, slot: &Slot, stored: &StoredTokenSet) {
        let entry = Arc::new(self.entry(stored.tokens.clone(), stored.version));
        slot.cached
            .rcu(|current| current.clone().or_else(|| Some(entry.clone())));
    }
}
