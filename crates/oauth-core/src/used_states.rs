//! Remembering which self-contained states were used, until they expire: what makes a state that
//! needs no server storage single use.
//!
//! A sealed (authenticated, self-contained) `state` carries everything its callback needs, so
//! starting an authorization stores nothing and no request can evict another's; but a seal alone
//! verifies any number of times. A [`UsedStates`] store records each state as its callback uses
//! it, until the state's own expiry, so a second callback with it is refused. Only callbacks whose
//! state verified reach it; records are forgotten only once expired, never to make room.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;
use sha2::{Digest as _, Sha256};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// The id under which a state's use is recorded: the SHA-256 of the state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateId([u8; 32]);

impl StateId {
    /// The id of `state`.
    pub fn of(state: &str) -> Self {
        Self(Sha256::digest(state.as_bytes()).into())
    }

    /// An id from its 32 bytes (as a store reads it back).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Its 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for StateId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash, not the state: printing its start is harmless and helps reading logs.
        write!(f, "StateId(")?;
        for byte in &self.0[..4] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

/// What recording a state's use found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateUse {
    /// The first use: recorded, the callback may go on.
    First,
    /// Used before: a replayed or double-submitted callback.
    Replayed,
    /// Expired by the store's own clock: not recorded.
    Expired,
}

/// Where the uses of self-contained states are remembered until the states expire.
///
/// Implementations must:
/// - record atomically: of concurrent calls with one id, exactly one gets [`StateUse::First`]
///   (in every process sharing the store);
/// - refuse, without recording it, a state whose `expires_at` has passed by the store's own clock
///   ([`StateUse::Expired`]), so that replicas with skewed clocks agree;
/// - keep a record at least until its `expires_at`, and never drop a live record to make room
///   (refuse with an error instead), so that no request can make another state usable twice.
///
/// `oauth_core::store::conformance::check_used_states` (feature `conformance`) checks these.
#[async_trait]
pub trait UsedStates: Send + Sync + fmt::Debug {
    /// Records the use of the state `id`, which expires at `expires_at`.
    async fn record_use(&self, id: &StateId, expires_at: SystemTime) -> Result<StateUse>;
}

/// The default bound on the live records of a [`MemoryUsedStates`].
pub const DEFAULT_MAX_USED_STATES: usize = 1_000_000;

#[derive(Default)]
struct Records {
    ids: HashSet<StateId>,
    /// The same records, by expiry, to forget the expired ones first.
    by_expiry: BTreeSet<(SystemTime, StateId)>,
}

/// An in-process [`UsedStates`], for a single server.
///
/// Each record costs about 100 bytes until its state expires; expired records are forgotten as
/// new ones arrive. At most `max_records` live records are kept (default
/// [`DEFAULT_MAX_USED_STATES`]): beyond that a use is refused with [`Error::Storage`] rather than
/// a live record dropped, which would let its state be used again.
///
/// ```
/// # tokio_test_block_on(async {
/// use std::time::{Duration, SystemTime};
/// use oauth_core::{MemoryUsedStates, StateId, StateUse, UsedStates};
/// let used = MemoryUsedStates::new();
/// let id = StateId::of("a sealed state");
/// let expires = SystemTime::now() + Duration::from_secs(600);
/// assert_eq!(used.record_use(&id, expires).await?, StateUse::First);
/// assert_eq!(used.record_use(&id, expires).await?, StateUse::Replayed);
/// # Ok::<(), oauth_core::Error>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
pub struct MemoryUsedStates {
    records: Mutex<Records>,
    max_records: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryUsedStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryUsedStates")
            .field("len", &self.len())
            .field("max_records", &self.max_records)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryUsedStates {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryUsedStates {
    /// An empty store on the system clock.
    pub fn new() -> Self {
        Self {
            records: Mutex::new(Records::default()),
            max_records: DEFAULT_MAX_USED_STATES,
            clock: Arc::new(SystemClock),
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the bound on live records (at least 1).
    pub fn with_max_records(mut self, max_records: usize) -> Self {
        self.max_records = max_records.max(1);
        self
    }

    /// The number of records held (expired ones not yet forgotten included).
    pub fn len(&self) -> usize {
        self.lock().ids.len()
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl UsedStates for MemoryUsedStates {
    async fn record_use(&self, id: &StateId, expires_at: SystemTime) -> Result<StateUse> {
        let now = self.clock.now();
        let mut records = self.lock();
        while let Some(&(expiry, old)) = records.by_expiry.first() {
            if expiry > now {
                break;
            }
            records.by_expiry.pop_first();
            records.ids.remove(&old);
        }
        if expires_at <= now {
            return Ok(StateUse::Expired);
        }
        if records.ids.contains(id) {
            return Ok(StateUse::Replayed);
        }
        if records.ids.len() >= self.max_records {
            return Err(Error::Storage {
                message: format!(
                    "the in-memory record of used states is full ({} live states): the callback is refused rather than a record dropped; raise MemoryUsedStates::with_max_records or use a database store",
                    self.max_records
                ),
                source: None,
            });
        }
        records.ids.insert(*id);
        records.by_expiry.insert((expires_at, *id));
        Ok(StateUse::First)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn expired_records_are_forgotten_and_live_ones_never_dropped() {
        let clock = Arc::new(ManualClock::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
        ));
        let used = MemoryUsedStates::new()
            .with_clock(clock.clone())
            .with_max_records(2);
        let soon = clock.now() + Duration::from_secs(10);
        let later = clock.now() + Duration::from_secs(100);
        let (a, b, c) = (StateId::of("a"), StateId::of("b"), StateId::of("c"));
        assert_eq!(used.record_use(&a, soon).await.unwrap(), StateUse::First);
        assert_eq!(used.record_use(&b, later).await.unwrap(), StateUse::First);
        // Full: a third is refused, and neither live record goes.
        let error = used.record_use(&c, later).await.unwrap_err();
        assert!(error.to_string().contains("full"), "{error}");
        assert_eq!(used.record_use(&a, soon).await.unwrap(), StateUse::Replayed);
        assert_eq!(
            used.record_use(&b, later).await.unwrap(),
            StateUse::Replayed
        );
        // Once `a` expires its record goes, and `c` fits.
        clock.advance(Duration::from_secs(10));
        assert_eq!(used.record_use(&c, later).await.unwrap(), StateUse::First);
        assert_eq!(used.len(), 2);
        assert_eq!(used.record_use(&a, soon).await.unwrap(), StateUse::Expired);
    }

    #[test]
    fn an_id_prints_only_the_start_of_its_hash() {
        let id = StateId::of("the state");
        let shown = format!("{id:?}");
        assert!(
            shown.starts_with("StateId(") && shown.ends_with("…)"),
            "{shown}"
        );
        assert!(!shown.contains("the state"));
    }
}
