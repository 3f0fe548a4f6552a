//! The background refresher (opt-in): refreshes token sets ahead of their refresh margin, spread
//! over a window with jitter and at most a few at a time, so that callers never wait for a
//! refresh and a fleet of installations whose tokens expire together never sends a burst.
//!
//! It finds due token sets with one indexed store query a poll
//! ([`TokenStore::due_for_refresh`](oauth_core::TokenStore::due_for_refresh)), not from the cache,
//! and refreshes each through the manager's own refresh path: the same single flight per
//! installation as [`TokenManager::access_token`], the same refresh lease across replicas (two
//! replicas' refreshers never refresh one token set twice: the one without the lease picks up the
//! other's write), the same backoff after a failure and `Retry-After`.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use oauth_core::store::{DueToken, MAX_PAGE_SIZE};
use oauth_core::{Error, Result, TokenKey};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::flight::Mode;
use crate::manager::{Inner, TokenManager};

/// Tuning of the background refresher ([`TokenManager::start_refresher`]).
///
/// A token set is refreshed at a random time in the `lead` before its refresh margin (the
/// manager's [`refresh_margin`](crate::ManagerConfig::refresh_margin)) begins: N installations
/// whose tokens expire at the same instant are refreshed at about N / `lead` a second, never more
/// than `concurrency` at once. With the defaults (a 30-minute lead, 8 at once, a poll every 30 s),
/// 10,000 Slack installations on the same 12-hour cycle are refreshed at about 5.6 a second.
#[derive(Clone, Debug)]
pub struct RefresherConfig {
    pub(crate) lead: Duration,
    pub(crate) concurrency: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) max_scheduled: usize,
}

impl Default for RefresherConfig {
    /// A 30-minute lead, 8 refreshes at once, a store poll every 30 s, at most 10,000 token sets
    /// scheduled at a time.
    fn default() -> Self {
        Self {
            lead: Duration::from_secs(30 * 60),
            concurrency: 8,
            poll_interval: Duration::from_secs(30),
            max_scheduled: 10_000,
        }
    }
}

impl RefresherConfig {
    /// Refresh within this window before the refresh margin begins (the jitter's range).
    pub fn lead(mut self, lead: Duration) -> Self {
        self.lead = lead;
        self
    }

    /// At most this many refreshes of the refresher run at once (callers' own refreshes are not
    /// counted: they never wait for the refresher).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Look for due token sets this often.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Schedule at most this many token sets at a time (the rest wait for a later poll), so that
    /// the refresher's memory stays bounded whatever the number of installations.
    pub fn max_scheduled(mut self, max: usize) -> Self {
        self.max_scheduled = max;
        self
    }

    fn check(&self) -> Result<()> {
        if self.concurrency == 0 || self.max_scheduled == 0 {
            return Err(Error::configuration(
                "the refresher's concurrency and max_scheduled must be at least 1",
            ));
        }
        if self.poll_interval.is_zero() || self.lead <= self.poll_interval {
            return Err(Error::configuration(format!(
                "the refresher's lead ({:?}) must be longer than its poll interval ({:?}), which must not be zero: \
                 a token set entering the window between two polls must still be refreshed before its margin",
                self.lead, self.poll_interval
            )));
        }
        Ok(())
    }
}

/// Counts of what a refresher did (for tests, metrics and benchmarks).
#[derive(Debug, Default)]
struct Counts {
    scheduled: AtomicU64,
    refreshed_or_current: AtomicU64,
    failed: AtomicU64,
    skipped_backing_off: AtomicU64,
}

/// A running background refresher: [`shutdown`](Self::shutdown) stops it; dropping the handle, or
/// every clone of the manager, stops it too.
pub struct Refresher {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    counts: Arc<Counts>,
}

impl fmt::Debug for Refresher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refresher")
            .field("scheduled", &self.counts.scheduled.load(Ordering::Relaxed))
            .field("failed", &self.counts.failed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Refresher {
    /// Stops looking for due token sets, cancels the refreshes it had scheduled but not started,
    /// and returns once the refreshes it started have ended (their rotated tokens written: a
    /// refresh always runs to its end in a task of its own, see
    /// [`TokenManager::flush`]).
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// How many token sets it has scheduled for a refresh so far.
    pub fn scheduled(&self) -> u64 {
        self.counts.scheduled.load(Ordering::Relaxed)
    }

    /// How many of its refreshes failed (the failure backoff applies to them, as to callers').
    pub fn failed(&self) -> u64 {
        self.counts.failed.load(Ordering::Relaxed)
    }
}

impl Drop for Refresher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl TokenManager {
    /// Starts the background refresher of this manager's token sets (see [`RefresherConfig`]).
    /// Needs a Tokio runtime. Run one per replica: replicas share the work through the store's
    /// refresh lease.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> oauth_core::Result<()> {
    /// use std::sync::Arc;
    /// use oauth_core::{MemoryTokenStore, TokenProvider};
    /// use oauth_manager::{RefresherConfig, TokenManager};
    /// let mock = oauth_core::mock::MockTokenProvider::for_provider(oauth_core::ProviderId::from_static("slack"));
    /// let provider: Arc<dyn TokenProvider> = Arc::new(mock);
    /// let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build()?;
    /// let refresher = manager.start_refresher(RefresherConfig::default())?;
    /// // ... serve requests with manager.access_token(&key) ...
    /// refresher.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// Fails with [`Error::Configuration`] if the configuration is unusable (see
    /// [`RefresherConfig`]).
    pub fn start_refresher(&self, config: RefresherConfig) -> Result<Refresher> {
        config.check()?;
        let (stop, stopped) = watch::channel(false);
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(run(
            Arc::downgrade(&self.inner),
            config,
            stopped,
            counts.clone(),
        ));
        Ok(Refresher {
            stop,
            task: Some(task),
            counts,
        })
    }

    /// One refresh by the refresher: through the flight of `key` (joining one that runs), if the
    /// stored token will be due `ahead` from now; nothing while the slot backs off.
    async fn refresh_ahead(&self, key: &TokenKey, ahead: Duration) -> Step {
        // The cached slot, or one loaded from the store (a token set gone or marked meanwhile
        // is not refreshed, and leaves nothing in the cache).
        let (slot, receiver) = loop {
            let Ok(slot) = self.load(key).await else {
                return Step::Failed;
            };
            let mut state = slot.flight();
            // Evicted between the load and the flight lock: take the current slot instead, so
            // that two slots of one key never refresh at once.
            if slot.is_evicted() {
                continue;
            }
            let now = self.inner.clock.now();
            if state.not_before.is_some_and(|at| now < at) {
                return Step::BackingOff;
            }
            let receiver = match state.running.as_ref() {
                Some((_, receiver)) => receiver.clone(),
                None => self.start_flight(&slot, &mut state, key, Mode::Ahead(ahead)),
            };
            drop(state);
            break (slot, receiver);
        };
        let outcome = self.wait(key, receiver, None).await;
        // A provider's `Retry-After` holds back the whole refresher, not one installation only.
        let limited = {
            let state = slot.flight();
            state.rate_limited.as_ref().and(state.not_before)
        };
        match (outcome, limited) {
            (_, Some(at)) => Step::RateLimited(at),
            (Ok(_), None) => Step::Done,
            (Err(_), None) => Step::Failed,
        }
    }
}

/// What one refresh came to.
enum Step {
    Done,
    Failed,
    BackingOff,
    RateLimited(SystemTime),
}

/// The keys scheduled and not yet done, and when the whole refresher may send again.
#[derive(Default)]
struct Shared {
    scheduled: Mutex<HashSet<TokenKey>>,
    paused_until: Mutex<Option<SystemTime>>,
}

impl Shared {
    fn lock_scheduled(&self) -> std::sync::MutexGuard<'_, HashSet<TokenKey>> {
        self.scheduled
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pause_until(&self, at: SystemTime) {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *paused = Some(paused.map_or(at, |current| current.max(at)));
    }

    fn paused(&self, now: SystemTime) -> bool {
        self.paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|until| now < until)
    }
}

/// How long from `now` the refresh of `due` starts: at a random time of the `lead` before its
/// margin begins, never in the first half of its token's life (the manager's own rule, so that a
/// token living less than its margin plus the lead is not refreshed again as soon as it is
/// minted), at once if the margin has begun.
fn start_delay(now: SystemTime, due: &DueToken, margin: Duration, lead: Duration) -> Duration {
    let margin_at = due.expires_at.checked_sub(margin).unwrap_or(due.expires_at);
    let window_start = margin_at.checked_sub(lead).unwrap_or(margin_at).max(now);
    let window = margin_at
        .duration_since(window_start)
        .unwrap_or(Duration::ZERO);
    window_start
        .duration_since(now)
        .unwrap_or(Duration::ZERO)
        .saturating_add(jitter(window))
}

/// Whether `tokens` is past the first half of its life at `now` (the background refresher never
/// refreshes a token before; one without an expiry never is).
pub(crate) fn past_half_life(tokens: &oauth_core::TokenSet, now: SystemTime) -> bool {
    let Some(expires_at) = tokens.expires_at else {
        return false;
    };
    let life = expires_at
        .duration_since(tokens.issued_at)
        .unwrap_or(Duration::ZERO);
    tokens
        .issued_at
        .checked_add(life / 2)
        .is_none_or(|half| now >= half)
}

/// A uniformly random duration in `[0, range)`.
fn jitter(range: Duration) -> Duration {
    let nanos = u64::try_from(range.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(getrandom::u64().unwrap_or(0) % nanos)
}

async fn run(
    manager: Weak<Inner>,
    config: RefresherConfig,
    mut stopped: watch::Receiver<bool>,
    counts: Arc<Counts>,
) {
    let permits = Arc::new(Semaphore::new(config.concurrency));
    let shared = Arc::new(Shared::default());
    let mut tasks = JoinSet::new();
    loop {
        {
            let Some(inner) = manager.upgrade() else {
                break;
            };
            let manager = TokenManager { inner };
            let paused = shared.paused(manager.inner.clock.now());
            if paused {
                tracing::debug!("the background refresher is rate limited: not polling");
            } else if let Err(error) =
                poll(&manager, &config, &shared, &permits, &counts, &mut tasks).await
            {
                tracing::warn!(%error, "the background refresher could not read the due token sets; trying again at the next poll");
            }
        }
        while tasks.try_join_next().is_some() {}
        tokio::select! {
            _ = tokio::time::sleep(config.poll_interval) => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
    }
    // Scheduled refreshes that have not started are dropped; those running are waited for (their
    // flights run in tasks of their own and end whatever happens to these).
    stop_scheduled(&mut tasks, &permits).await;
    if let Some(inner) = manager.upgrade() {
        TokenManager { inner }.flush().await;
    }
}

/// Cancels the scheduled refreshes, those waiting for their time or a permit and those waiting
/// for a flight's outcome (the flight itself goes on in its own task, to its end).
async fn stop_scheduled(tasks: &mut JoinSet<()>, permits: &Semaphore) {
    permits.close();
    tasks.shutdown().await;
}

/// Reads the due token sets page by page and schedules each one not scheduled yet.
async fn poll(
    manager: &TokenManager,
    config: &RefresherConfig,
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    counts: &Arc<Counts>,
    tasks: &mut JoinSet<()>,
) -> Result<()> {
    let inner = &manager.inner;
    let provider = inner.provider.provider_id();
    let margin = inner.config.refresh_margin;
    let now = inner.clock.now();
    let bound = now
        .checked_add(margin.saturating_add(config.lead))
        .unwrap_or(now);
    let mut after: Option<DueToken> = None;
    loop {
        let room = config
            .max_scheduled
            .saturating_sub(shared.lock_scheduled().len());
        if room == 0 {
            return Ok(());
        }
        let limit = room.min(MAX_PAGE_SIZE);
        let page = inner
            .store
            .due_for_refresh(bound, after.as_ref(), limit)
            .await?;
        let full = page.len() >= limit;
        for due in &page {
            if due.key.provider() != &provider || !shared.lock_scheduled().insert(due.key.clone()) {
                continue;
            }
            let delay = start_delay(now, due, margin, config.lead);
            counts.scheduled.fetch_add(1, Ordering::Relaxed);
            tasks.spawn(refresh_one(
                Arc::downgrade(inner),
                due.key.clone(),
                delay,
                config.lead,
                shared.clone(),
                permits.clone(),
                counts.clone(),
            ));
        }
        after = page.last().cloned();
        if !full {
            return Ok(());
        }
    }
}

/// Removes a key from the scheduled set when its task ends, however it ends.
struct Unschedule {
    shared: Arc<Shared>,
    key: TokenKey,
}

impl Drop for Unschedule {
    fn drop(&mut self) {
        self.shared.lock_scheduled().remove(&self.key);
    }
}

async fn refresh_one(
    manager: Weak<Inner>,
    key: TokenKey,
    delay: Duration,
    lead: Duration,
    shared: Arc<Shared>,
    permits: Arc<Semaphore>,
    counts: Arc<Counts>,
) {
    let _unschedule = Unschedule {
        shared: shared.clone(),
        key: key.clone(),
    };
    tokio::time::sleep(delay).await;
    let Ok(_permit) = permits.acquire().await else {
        return; // shutting down
    };
    let Some(inner) = manager.upgrade() else {
        return;
    };
    let manager = TokenManager { inner };
    if shared.paused(manager.inner.clock.now()) {
        // Rate limited: left for a poll after the pause.
        counts.skipped_backing_off.fetch_add(1, Ordering::Relaxed);
        return;
    }
    match manager.refresh_ahead(&key, lead).await {
        Step::Done => {
            counts.refreshed_or_current.fetch_add(1, Ordering::Relaxed);
        }
        Step::Failed => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
        }
        Step::BackingOff => {
            counts.skipped_backing_off.fetch_add(1, Ordering::Relaxed);
        }
        Step::RateLimited(until) => {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            shared.pause_until(until);
        }
    }
}
