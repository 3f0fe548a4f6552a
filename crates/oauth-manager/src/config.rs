//! [`ManagerConfig`]: the token manager's tuning, what its defaults guarantee, and the checks made
//! when a manager is built.

use std::time::{Duration, SystemTime};

use oauth_core::{Error, Result};

/// The longest any delay the manager schedules can be (a backoff after a failure, a provider's
/// `Retry-After`): one hour. Longer values are cut to it, so that no duration, however large,
/// overflows the time arithmetic or postpones a refresh past all reason.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Tuning of a [`TokenManager`](crate::TokenManager).
///
/// # What the defaults guarantee
///
/// With the default configuration and a provider client on its default HTTP settings (30 s per
/// attempt, 3 attempts, at most 30 s of retry waits: one refresh call takes at most 120 s):
///
/// - **The lease outlasts the slowest refresh.** The refresh lease lasts 150 s, more than the
///   120 s one refresh call can take, and it is renewed every 50 s while the refresh runs (and
///   while its result is being written). No second refresh with the same single-use refresh token
///   can start on any replica while the first may still be in flight. A manager whose lease is
///   not longer than its client's bound is refused at [`build`](crate::TokenManagerBuilder::build).
/// - **A crashed refresher costs callers nothing.** Tokens are refreshed 5 minutes before they
///   expire; if the replica holding the lease dies, another takes over after at most 150 s, while
///   the old token is still valid for at least 150 s more. Callers keep getting the cached token.
/// - **Callers with a valid token never wait**: not for a refresh, a lease held elsewhere, a
///   backoff or the database. A refresh due within the margin runs in the background. Callers
///   without a usable token wait for the one refresh in flight, at most 60 s.
/// - **Failures back off.** After a transient failure while the old token is valid: 30 s (or the
///   provider's `Retry-After`, cut to one hour); after a lost response: 1 s, inside Slack's grace
///   period for a spent refresh token. A rotated token set whose store write fails is served from
///   memory and written again with backoff (50 ms doubling to 5 s) until the write succeeds.
/// - **A token set deleted elsewhere stops being served within 10 s.** A replica that caches a
///   token set another replica deleted (an uninstall, a revocation) or marked for
///   re-authorization stops serving it at most 10 s (plus one store read) after the change: the
///   first caller after each 10 s of use starts a store read in the background
///   ([`revalidate_interval`](Self::revalidate_interval)); the replica that removed it forgets it
///   at once.
/// - **Memory stays bounded by what is in use.** Only token sets the store holds are cached (a
///   call for an unknown key caches nothing), deleted ones leave the cache at once, and token
///   sets unused for an hour are evicted ([`idle_timeout`](Self::idle_timeout)), to be read again
///   from the store at their next use; [`max_cached`](Self::max_cached) caps the number.
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    pub(crate) refresh_margin: Duration,
    pub(crate) lease_ttl: Duration,
    pub(crate) retry_after_failure: Duration,
    pub(crate) retry_after_lost_response: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) recheck_interval: Duration,
    pub(crate) revalidate_interval: Duration,
    pub(crate) max_wait: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_cached: Option<usize>,
}

impl Default for ManagerConfig {
    /// Refresh 5 minutes before expiry; refresh leases of 150 s (renewed every 50 s while a
    /// refresh runs); after a failed refresh while the old token is still valid, serve it and try
    /// again after 30 s (1 s when the response was lost); while another process holds the lease,
    /// look at the store every 25 ms for callers without a valid token and every second
    /// otherwise; look again at a cached token set every 10 s it is in use, to stop serving it
    /// within 10 s of its deletion elsewhere; callers without a valid token wait up to 60 s;
    /// evict token sets unused for an hour, with no limit on the number cached.
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(150),
            retry_after_failure: Duration::from_secs(30),
            retry_after_lost_response: Duration::from_secs(1),
            poll_interval: Duration::from_millis(25),
            recheck_interval: Duration::from_secs(1),
            revalidate_interval: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(3600),
            max_cached: None,
        }
    }
}

impl ManagerConfig {
    /// Refresh this long before the access token expires, but never in the first half of a
    /// token's lifetime: a token that lives no longer than twice the margin is refreshed halfway
    /// through its life, so that a token is never "due" the moment it is minted (with Slack's
    /// 12-hour tokens and the default 5 minutes, the margin applies as set).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How long a refresh lease lasts if its holder stops renewing it (it died, or lost the
    /// store). Must be longer than one refresh call of the provider client can take
    /// ([`TokenGrant::refresh_time_bound`](oauth_core::TokenGrant::refresh_time_bound)); the
    /// holder renews it every third of this while the refresh runs.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// After a transient refresh failure with the old token still valid, wait this long before
    /// trying again (unless the provider said how long with `Retry-After`). Cut to
    /// [`MAX_BACKOFF`].
    pub fn retry_after_failure(mut self, delay: Duration) -> Self {
        self.retry_after_failure = delay;
        self
    }

    /// After a refresh whose response was lost (the provider may have rotated), try again this
    /// soon, so that a provider's grace period for the spent refresh token can still be used.
    pub fn retry_after_lost_response(mut self, delay: Duration) -> Self {
        self.retry_after_lost_response = delay;
        self
    }

    /// How often to look at the store, for callers without a valid token, while another process
    /// holds the refresh lease.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How often to look at the store again while another process holds the refresh lease and
    /// the cached token is still valid (its callers are served meanwhile and do not wait).
    pub fn recheck_interval(mut self, interval: Duration) -> Self {
        self.recheck_interval = interval;
        self
    }

    /// How often a token set served from the cache is looked at again in the store (one read in
    /// the background, started by the first caller after the interval; callers never wait for
    /// it): a token set another replica deleted (an uninstall, a revocation) or marked for
    /// re-authorization stops being served here within this interval plus one store read, and
    /// tokens another replica refreshed are picked up. The cost: one store read per token set in
    /// use per interval per replica. Default 10 s.
    pub fn revalidate_interval(mut self, interval: Duration) -> Self {
        self.revalidate_interval = interval;
        self
    }

    /// The longest a caller without a valid token waits for the refresh (this process's or
    /// another's) before failing with a timeout. The refresh itself goes on.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Evicts a token set from the cache once it has not been used for this long (default one
    /// hour); its next use reads it again from the store (one read, as for its first use).
    ///
    /// **The eviction rule.** Sweeps run in the background (on tokio's blocking pool), started
    /// by a call that caches a new token set or revalidates one, at most every half of this
    /// interval, so a token set leaves between one and one and a half times this after its last
    /// use (or at once with [`TokenManager::evict_idle`](crate::TokenManager::evict_idle)). A
    /// token set is never evicted while anything in this process works on it: a refresh in
    /// flight or queued, rotated tokens whose write is still being retried (they are served
    /// from memory until it lands), the refresh lease held, callers waiting, a backoff after a
    /// failure or a `Retry-After`, or an access token reported rejected; it stays until a later
    /// sweep. Token sets deleted through this manager leave the cache at once; unknown keys never
    /// enter it.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Caps the number of token sets cached (default: no cap). Beyond it, a sweep (in the
    /// background, started by the call that caches one more) evicts the least recently used
    /// (to the second) down to seven eighths of the cap, by the rule of
    /// [`idle_timeout`](Self::idle_timeout): busy ones stay, so the cap can be passed while more
    /// token sets than it are in use at once.
    pub fn max_cached(mut self, token_sets: usize) -> Self {
        self.max_cached = Some(token_sets);
        self
    }

    /// How often the lease is renewed while a refresh runs.
    pub(crate) fn heartbeat(&self) -> Duration {
        (self.lease_ttl / 3).max(Duration::from_millis(1))
    }

    /// Refuses settings under which the manager cannot keep its promises.
    pub(crate) fn check(&self, refresh_bound: Option<Duration>) -> Result<()> {
        for (name, value) in [
            ("lease_ttl", self.lease_ttl),
            ("poll_interval", self.poll_interval),
            ("recheck_interval", self.recheck_interval),
            ("revalidate_interval", self.revalidate_interval),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::configuration(format!(
                    "ManagerConfig::{name} is zero: give it a positive duration"
                )));
            }
        }
        if self.max_cached == Some(0) {
            return Err(Error::configuration(
                "ManagerConfig::max_cached is zero: give it a positive number of token sets",
            ));
        }
        if let Some(bound) = refresh_bound
            && self.lease_ttl <= bound
        {
            return Err(Error::configuration(format!(
                "the refresh lease lasts {} but one refresh call of this provider client can take \
                 up to {} (attempts × timeout + retry waits): a second replica could spend the same \
                 refresh token while the first call is still in flight. Raise \
                 ManagerConfig::lease_ttl above {}, or lower the client's timeout or attempts",
                seconds(self.lease_ttl),
                seconds(bound),
                seconds(bound),
            )));
        }
        if self.refresh_margin < self.lease_ttl {
            tracing::warn!(
                refresh_margin_s = self.refresh_margin.as_secs_f64(),
                lease_ttl_s = self.lease_ttl.as_secs_f64(),
                "the refresh margin is shorter than the lease: if a refreshing replica dies, \
                 tokens can expire before another takes over, and callers will wait"
            );
        }
        Ok(())
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// `now + delay`, with `delay` cut to [`MAX_BACKOFF`]: never overflows.
pub(crate) fn after(now: SystemTime, delay: Duration) -> SystemTime {
    let delay = delay.min(MAX_BACKOFF);
    now.checked_add(delay).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_lease_not_longer_than_the_refresh_bound_is_refused_with_both_figures() {
        let config = ManagerConfig::default().lease_ttl(Duration::from_secs(30));
        let error = config.check(Some(Duration::from_secs(120))).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("30.0 s"), "{message}");
        assert!(message.contains("120.0 s"), "{message}");
        assert_eq!(error.kind(), oauth_core::ErrorKind::Configuration);
        assert!(
            config.check(Some(Duration::from_secs(30))).is_err(),
            "equal is not longer"
        );
        assert!(config.check(Some(Duration::from_secs(29))).is_ok());
        assert!(
            config.check(None).is_ok(),
            "an unknown bound cannot be checked"
        );
    }

    #[test]
    fn the_defaults_outlast_the_default_clients_refresh() {
        // 3 attempts × 30 s + 30 s of retry waits (oauth-core's defaults).
        assert!(
            ManagerConfig::default()
                .check(Some(Duration::from_secs(120)))
                .is_ok()
        );
    }

    #[test]
    fn zero_durations_are_refused() {
        for config in [
            ManagerConfig::default().lease_ttl(Duration::ZERO),
            ManagerConfig::default().poll_interval(Duration::ZERO),
            ManagerConfig::default().recheck_interval(Duration::ZERO),
            ManagerConfig::default().revalidate_interval(Duration::ZERO),
            ManagerConfig::default().idle_timeout(Duration::ZERO),
            ManagerConfig::default().max_cached(0),
        ] {
            assert!(config.check(None).is_err());
        }
    }

    #[test]
    fn delays_saturate() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(after(now, Duration::MAX), now + MAX_BACKOFF);
        assert_eq!(after(now, Duration::from_secs(u64::MAX)), now + MAX_BACKOFF);
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}
