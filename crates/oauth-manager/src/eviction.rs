//! When slots leave the cache: idle ones (unused for [`ManagerConfig::idle_timeout`], or the
//! least recently used beyond [`ManagerConfig::max_cached`]) in a sweep, and those of deleted
//! token sets at once. A slot leaves only when nothing in this process works on it: no refresh
//! in flight or queued, no write being retried (the work lock is free), no caller holding it
//! (waiting for a refresh, or about to), no backoff or rejected token to remember, no tokens
//! served from memory before their write landed. Everything else a slot holds is in the store,
//! and is read again at the next use.
//!
//! [`ManagerConfig::idle_timeout`]: crate::ManagerConfig::idle_timeout
//! [`ManagerConfig::max_cached`]: crate::ManagerConfig::max_cached

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::SystemTime;

use oauth_core::TokenKey;

use crate::manager::{Inner, TokenManager};
use crate::slot::{Slot, seconds};

/// When the next sweep may run.
#[derive(Debug, Default)]
pub(crate) struct Sweeps {
    running: AtomicBool,
    /// The next idle sweep, in seconds since the Unix epoch by the manager's clock.
    next_idle: AtomicU64,
    /// Over `max_cached`, the next sweep waits until the cache holds this many (a sweep that
    /// could not evict enough, every slot being busy, is not repeated at every insert).
    next_count: AtomicUsize,
}

/// Why a slot is asked to leave.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Idle: it must not hold a backoff or a rejected token (the store does not know those).
    Idle,
    /// Its token set was deleted: what it remembers is about a row that is gone.
    Deleted,
}

impl TokenManager {
    /// Evicts now what the eviction rule allows (see
    /// [`ManagerConfig::idle_timeout`](crate::ManagerConfig::idle_timeout)), as the background
    /// sweeps do; the number of token sets evicted. Evicted token sets are read again from the
    /// store at their next use. It runs on the calling thread and takes time in proportion to the
    /// number cached (tens of milliseconds for a million).
    pub fn evict_idle(&self) -> usize {
        self.inner.sweep()
    }
}

impl Inner {
    /// Starts a sweep in the background if one is due: the cache is over `max_cached`, or
    /// `idle_timeout / 2` passed since the last one. Called when a slot is made and when a
    /// cached token set is revalidated; the sweep runs on tokio's blocking pool.
    pub(crate) fn maybe_sweep(self: &Arc<Self>) {
        let now = seconds(self.clock.now());
        let len = self.cache.len();
        let over = self
            .config
            .max_cached
            .is_some_and(|max| len > max && len >= self.sweeps.next_count.load(Ordering::Relaxed));
        if !over && now < self.sweeps.next_idle.load(Ordering::Relaxed) {
            return;
        }
        if self.sweeps.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeps.running.store(false, Ordering::Release);
            return;
        };
        let inner = self.clone();
        runtime.spawn_blocking(move || {
            inner.sweep();
            inner.sweeps.running.store(false, Ordering::Release);
        });
    }

    /// One pass over the cache: evicts the idle, and beyond `max_cached` the least recently used
    /// down to seven eighths of it. The number evicted.
    pub(crate) fn sweep(&self) -> usize {
        let now = self.clock.now();
        let secs = seconds(now);
        let idle = self.config.idle_timeout;
        self.sweeps.next_idle.store(
            secs.saturating_add((idle / 2).as_secs().max(1)),
            Ordering::Relaxed,
        );
        // Idle: last used at or before `idle_cut` (uses are counted in whole seconds, so one
        // second more). A huge timeout evicts nothing for idleness.
        let idle_cut = secs
            .checked_sub(idle.as_secs())
            .and_then(|cut| cut.checked_sub(1));
        // Over `max_cached`: the `excess` least recently used, to the second (among slots last
        // used in the same second, any).
        let len = self.cache.len();
        let (mut count_cut, mut excess) = (None, 0);
        if let Some(max) = self.config.max_cached
            && len > max
        {
            excess = len - (max - max / 8);
            let mut uses = Vec::with_capacity(len);
            for index in 0..self.cache.shard_count() {
                if let Some(shard) = self.cache.read(index) {
                    uses.extend(shard.values().map(|slot| slot.used()));
                }
            }
            if let Some(nth) = excess.checked_sub(1).filter(|&n| n < uses.len()) {
                let (_, oldest_kept, _) = uses.select_nth_unstable(nth);
                count_cut = Some(*oldest_kept);
            }
        }
        let cut = idle_cut.max(count_cut);
        let mut evicted = 0;
        for index in 0..self.cache.shard_count() {
            let candidates: Vec<(TokenKey, bool)> = match self.cache.read(index) {
                Some(shard) => shard
                    .iter()
                    .filter(|(_, slot)| Arc::strong_count(slot) == 1)
                    .filter_map(|(key, slot)| {
                        let used = slot.used();
                        let idle =
                            idle_cut.is_some_and(|c| used <= c) || slot.cached.load().is_none();
                        (idle || cut.is_some_and(|c| used <= c)).then(|| (key.clone(), idle))
                    })
                    .collect(),
                None => Vec::new(),
            };
            for (key, idle) in candidates {
                if !idle && excess == 0 {
                    continue;
                }
                if self.evict(&key, None, Why::Idle, now) {
                    evicted += 1;
                    excess = excess.saturating_sub(1);
                }
            }
        }
        if let Some(max) = self.config.max_cached {
            self.sweeps
                .next_count
                .store(self.cache.len().saturating_add(max / 16), Ordering::Relaxed);
        }
        if evicted > 0 {
            tracing::debug!(
                evicted,
                cached = self.cache.len(),
                "evicted idle token sets"
            );
        }
        evicted
    }

    /// Drops `slot` (the caller's, its work lock released) from the cache after its token set
    /// was deleted, if nothing else works on it; a busy one stays, empty, until a sweep.
    pub(crate) fn discard(&self, key: &TokenKey, slot: Arc<Slot>) {
        self.evict(key, Some(&slot), Why::Deleted, self.clock.now());
    }

    /// Removes `key`'s slot if the rule allows it (see the module docs). `own` is a reference
    /// the caller holds to the same slot.
    fn evict(&self, key: &TokenKey, own: Option<&Arc<Slot>>, why: Why, now: SystemTime) -> bool {
        let mut shard = self.cache.write_shard_of(key);
        let Some(slot) = shard.get(key) else {
            return false;
        };
        if own.is_some_and(|own| !Arc::ptr_eq(own, slot)) {
            return false;
        }
        // The map's reference and the caller's: no one else holds it, and with the shard locked
        // for writing no one can take it now.
        if Arc::strong_count(slot) != 1 + usize::from(own.is_some()) {
            return false;
        }
        {
            let Ok(state) = slot.flight.try_lock() else {
                return false;
            };
            let Ok(_work) = slot.work.try_lock() else {
                return false;
            };
            let remembers = state.rejected.is_some() || state.not_before.is_some_and(|at| now < at);
            if state.running.is_some() || (why == Why::Idle && remembers) {
                return false;
            }
            if slot.cached.load().as_ref().is_some_and(|c| c.unwritten) {
                return false;
            }
            slot.mark_evicted();
        }
        self.cache.remove_from(&mut shard, key);
        true
    }
}
