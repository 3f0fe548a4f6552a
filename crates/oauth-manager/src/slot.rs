//! What the manager keeps per installation: the cached token set, the refresh in flight, the
//! backoff, and when a token is due.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use oauth_core::{AccessToken, Error, Result, TokenSet};
use tokio::sync::watch;

/// A token set as cached, with its version in the store.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(crate) tokens: TokenSet,
    /// The store version these tokens were read at or written as. For tokens not yet written
    /// (`unwritten`), the version the write expects to replace.
    pub(crate) version: u64,
    /// When to refresh; `None` for a token that does not expire.
    refresh_at: Option<SystemTime>,
    /// The provider rejected this access token ([`TokenManager::report_rejected_token`]).
    ///
    /// [`TokenManager::report_rejected_token`]: crate::TokenManager::report_rejected_token
    rejected: AtomicBool,
    /// Obtained from the provider, served, but not yet in the store (its write is being retried).
    pub(crate) unwritten: bool,
    /// When to look at the store again (nanoseconds since the Unix epoch, by the manager's
    /// clock: no division on the hot path), to stop serving a token set deleted or marked elsewhere: see
    /// [`ManagerConfig::revalidate_interval`](crate::ManagerConfig::revalidate_interval).
    revalidate_at: AtomicU64,
}

impl Cached {
    pub(crate) fn new(tokens: TokenSet, version: u64, margin: Duration) -> Self {
        Self {
            refresh_at: refresh_at(&tokens, margin),
            tokens,
            version,
            rejected: AtomicBool::new(false),
            unwritten: false,
            revalidate_at: AtomicU64::new(0),
        }
    }

    /// Sets when to look at the store again: `interval` after `now`.
    pub(crate) fn revalidate_after(self, now: SystemTime, interval: Duration) -> Self {
        self.revalidate_at.store(
            nanos(now).saturating_add(nanos_of(interval)),
            Ordering::Relaxed,
        );
        self
    }

    /// Whether the store should be looked at again now; `true` for one caller per interval (it
    /// moves the next time on by `interval`), never for tokens not yet written.
    pub(crate) fn revalidation_due(&self, now: SystemTime, interval: Duration) -> bool {
        let now = nanos(now);
        let at = self.revalidate_at.load(Ordering::Relaxed);
        // `u64::MAX` is "never" (a saturated time: a huge interval, or a clock past 2554).
        at != u64::MAX
            && now >= at
            && !self.unwritten
            && self
                .revalidate_at
                .compare_exchange(
                    at,
                    now.saturating_add(nanos_of(interval)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    pub(crate) fn unwritten(tokens: TokenSet, expected_version: u64, margin: Duration) -> Self {
        Self {
            unwritten: true,
            ..Self::new(tokens, expected_version, margin)
        }
    }

    /// Servable without a refresh: not due, not rejected.
    pub(crate) fn fresh(&self, now: SystemTime) -> bool {
        !self.is_rejected() && self.refresh_at.is_none_or(|at| now < at)
    }

    /// Servable while a refresh is due or failing: not expired, not rejected.
    pub(crate) fn usable(&self, now: SystemTime) -> bool {
        !self.is_rejected() && !self.tokens.is_expired(now)
    }

    pub(crate) fn is_rejected(&self) -> bool {
        self.rejected.load(Ordering::Acquire)
    }

    pub(crate) fn reject(&self) {
        self.rejected.store(true, Ordering::Release);
    }
}

/// Whole seconds since the Unix epoch (0 before it).
pub(crate) fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, nanos_of)
}

/// Saturating (`u64` nanoseconds since the epoch last until 2554).
fn nanos_of(duration: Duration) -> u64 {
    duration
        .as_secs()
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(duration.subsec_nanos()))
}

/// When a token is due for refresh: `margin` before it expires, but never in the first half of
/// its lifetime (a token that lives no longer than twice the margin is due halfway through), so
/// that a token is never due the moment it is minted and callers that shared a refresh are not
/// sent to refresh again: one grant per token.
pub(crate) fn refresh_at(tokens: &TokenSet, margin: Duration) -> Option<SystemTime> {
    let expires_at = tokens.expires_at?;
    let lifetime = expires_at
        .duration_since(tokens.issued_at)
        .unwrap_or(Duration::ZERO);
    let margin = margin.min(lifetime / 2);
    Some(expires_at.checked_sub(margin).unwrap_or(tokens.issued_at))
}

/// What a refresh hands to the callers waiting for it. Errors are `Clone`, so each waiter gets
/// the refresh's own error.
pub(crate) type Outcome = Result<Arc<Cached>>;

/// The refresh in flight, if any, and the schedule of the next one.
#[derive(Debug, Default)]
pub(crate) struct FlightState {
    /// The running refresh: its id and where its outcome will be published.
    pub(crate) running: Option<(u64, watch::Receiver<Option<Outcome>>)>,
    /// Callers with a usable token start no refresh before this (a backoff after a failure, or a
    /// re-check while another process holds the lease).
    pub(crate) not_before: Option<SystemTime>,
    /// A failure whose backoff the provider asked for (`Retry-After`): callers without a usable
    /// token get it until `not_before` instead of sending another refresh.
    pub(crate) rate_limited: Option<Error>,
    /// The access token the provider rejected, until a refresh replaces it.
    pub(crate) rejected: Option<AccessToken>,
}

/// One installation's state in this process.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// Read without locks on the hot path.
    pub(crate) cached: ArcSwapOption<Cached>,
    /// Held by the refresh task for its whole run (refresh and write), and by saves, forced
    /// refreshes and deletions: one of them at a time per installation in this process.
    pub(crate) work: Arc<tokio::sync::Mutex<()>>,
    /// Short critical sections only: never held across an `.await`.
    pub(crate) flight: Mutex<FlightState>,
    /// Last use, in whole seconds of the manager's clock since the Unix epoch: written at most
    /// once a second, so that callers of one token set on several cores do not fight over it.
    used: AtomicU64,
    /// Set once this slot left the cache (`eviction.rs`), with its flight and work locks held: a
    /// caller that finds it so under either lock looks the key up again, so that no refresh,
    /// save or removal ever runs on a slot the cache no longer holds.
    evicted: AtomicBool,
}

impl Slot {
    /// Records a use at `now`.
    pub(crate) fn touch(&self, now: SystemTime) {
        let secs = seconds(now);
        if self.used.load(Ordering::Relaxed) != secs {
            self.used.store(secs, Ordering::Relaxed);
        }
    }

    /// The last use, in seconds since the Unix epoch.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    pub(crate) fn mark_evicted(&self) {
        self.evicted.store(true, Ordering::Release);
    }

    pub(crate) fn flight(&self) -> std::sync::MutexGuard<'_, FlightState> {
        self.flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth_core::{ProviderId, TokenType};

    fn tokens(lifetime_secs: i64) -> TokenSet {
        let mut tokens = TokenSet::builder(ProviderId::from_static("x"), AccessToken::new("a"))
            .token_type(TokenType::Bot)
            .issued_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
            .build();
        tokens.set_expires_in(lifetime_secs);
        tokens
    }

    #[test]
    fn due_a_margin_before_expiry_but_not_in_the_first_half_of_a_life() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let margin = Duration::from_secs(300);
        assert_eq!(
            refresh_at(&tokens(3600), margin),
            Some(t0 + Duration::from_secs(3300))
        );
        assert_eq!(
            refresh_at(&tokens(60), margin),
            Some(t0 + Duration::from_secs(30)),
            "a token born inside the margin is due halfway"
        );
        assert_eq!(
            refresh_at(&tokens(300), margin),
            Some(t0 + Duration::from_secs(150))
        );
        assert_eq!(
            refresh_at(&tokens(500), margin),
            Some(t0 + Duration::from_secs(250)),
            "not in the first half of a life, even outside the margin"
        );
        assert_eq!(
            refresh_at(&tokens(600), margin),
            Some(t0 + Duration::from_secs(300))
        );
        assert_eq!(refresh_at(&tokens(0), margin), Some(t0));
        assert_eq!(
            refresh_at(&tokens(3600), Duration::MAX),
            Some(t0 + Duration::from_secs(1800)),
            "a huge margin saturates"
        );
        let mut forever = tokens(60);
        forever.expires_at = None;
        assert_eq!(refresh_at(&forever, margin), None);
        let cached = Cached::new(tokens(60), 1, margin);
        assert!(cached.fresh(t0), "never due when minted");
        assert!(!cached.fresh(t0 + Duration::from_secs(30)));
        assert!(cached.usable(t0 + Duration::from_secs(59)));
        assert!(!cached.usable(t0 + Duration::from_secs(60)));
        cached.reject();
        assert!(!cached.fresh(t0) && !cached.usable(t0));
    }

    #[test]
    fn one_caller_per_interval_revalidates() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let every = Duration::from_secs(10);
        let cached =
            Cached::new(tokens(3600), 1, Duration::from_secs(300)).revalidate_after(t0, every);
        assert!(!cached.revalidation_due(t0 + Duration::from_secs(9), every));
        assert!(cached.revalidation_due(t0 + Duration::from_secs(10), every));
        assert!(
            !cached.revalidation_due(t0 + Duration::from_secs(10), every),
            "the next caller does not: the next time moved on"
        );
        assert!(cached.revalidation_due(t0 + Duration::from_secs(20), every));
        let unwritten = Cached::unwritten(tokens(3600), 1, Duration::from_secs(300));
        assert!(
            !unwritten.revalidation_due(t0, every),
            "tokens whose write is pending are the store's future, not its past"
        );
        let huge = Cached::new(tokens(3600), 1, Duration::ZERO).revalidate_after(t0, Duration::MAX);
        assert!(!huge.revalidation_due(t0 + Duration::from_secs(1 << 40), Duration::MAX));
    }
}
