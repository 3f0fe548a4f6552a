//! One refresh of one installation, run in a task of its own: read the store, take the lease,
//! renew it while the provider is called, write the rotated tokens (again and again if the store
//! fails), and hand the outcome to every caller waiting for it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use oauth_core::{
    CasOutcome, Error, ErrorKind, Lease, RefreshToken, RequestSent, StoredTokenSet, TokenKey,
    TokenSet,
};
use tokio::sync::watch;

use crate::config::after;
use crate::events::{TokenEvent, emit};
use crate::manager::Inner;
use crate::reconcile::{Resolution, resolve};
use crate::slot::{Cached, Outcome, Slot};

/// Why a refresh task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A caller found no fresh token: refresh if the stored one is due (or rejected).
    Due,
    /// [`TokenManager::force_refresh`](crate::TokenManager::force_refresh): refresh whatever the
    /// expiry, and fail rather than wait if another process holds the lease.
    Forced,
    /// The background refresher ([`crate::Refresher`]): refresh if the stored token will be due
    /// this long from now; otherwise as [`Mode::Due`].
    Ahead(Duration),
}

/// The first write attempt after a store failure waits this long; each later one twice as long.
const WRITE_RETRY_FIRST: Duration = Duration::from_millis(50);
/// The longest wait between two write attempts.
const WRITE_RETRY_MAX: Duration = Duration::from_secs(5);
/// A provider call still running after this long is taken as stuck: its lease is no longer
/// renewed, so that it lapses and another process can refresh. (A client that reports its
/// [`refresh_time_bound`](oauth_core::TokenGrant::refresh_time_bound) ends its calls well before.)
const STUCK_CALL: Duration = Duration::from_secs(600);

/// Hands the outcome to the waiting callers once, and ends the flight when dropped (even if the
/// task panicked): the next caller can then start another.
pub(crate) struct Flight {
    pub(crate) id: u64,
    pub(crate) slot: Arc<Slot>,
    pub(crate) sender: watch::Sender<Option<Outcome>>,
    pub(crate) inner: Arc<Inner>,
}

impl Flight {
    /// Hands `outcome` to the callers waiting (the first outcome only), and ends the flight for
    /// callers arriving later: they start a new one rather than receive this outcome when it is
    /// no longer news. (The task may go on writing; a new refresh task waits for it on the slot's
    /// work lock, and so never reads the row this one is replacing.)
    fn publish(&self, outcome: Outcome) {
        self.sender.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(outcome);
            true
        });
        let mut flight = self.slot.flight();
        if flight
            .running
            .as_ref()
            .is_some_and(|(id, _)| *id == self.id)
        {
            flight.running = None;
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.publish(Err(Error::Internal(
            "the refresh task ended without a result".into(),
        )));
        self.inner.in_flight_done();
    }
}

/// Renews the lease every third of its time to live until dropped.
struct Heartbeat {
    task: tokio::task::JoinHandle<()>,
    /// Set once the provider answered: from then on the lease is renewed for as long as the write
    /// takes, since this process holds the only copy of the new tokens.
    answered: Arc<std::sync::atomic::AtomicBool>,
}

impl Heartbeat {
    fn start(inner: &Arc<Inner>, lease: &Lease) -> Self {
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let task = tokio::spawn({
            let (inner, lease, answered) = (inner.clone(), lease.clone(), answered.clone());
            async move {
                let every = inner.config.heartbeat();
                let started = tokio::time::Instant::now();
                loop {
                    tokio::time::sleep(every).await;
                    if !answered.load(Ordering::Acquire) && started.elapsed() > STUCK_CALL {
                        tracing::error!(installation = %lease.key, "the refresh call has run for 10 minutes: no longer renewing its lease");
                        return;
                    }
                    match inner
                        .store
                        .renew_lease(&lease, inner.config.lease_ttl)
                        .await
                    {
                        Ok(Some(_)) => {}
                        Ok(None) => {
                            emit(
                                inner.hook.as_ref(),
                                TokenEvent::LeaseLost {
                                    key: lease.key.clone(),
                                },
                            );
                            return;
                        }
                        Err(error) => {
                            tracing::warn!(installation = %lease.key, %error, "could not renew the refresh lease; trying again at the next beat");
                        }
                    }
                }
            }
        });
        Self { task, answered }
    }

    fn answered(&self) {
        self.answered.store(true, Ordering::Release);
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Inner {
    /// Runs one flight to its end. The outcome is published as soon as callers can use it; the
    /// flight may go on after that (writing rotated tokens the store refused at first).
    pub(crate) async fn fly(self: &Arc<Self>, key: &TokenKey, flight: &Flight, mode: Mode) {
        let slot = &flight.slot;
        let rejected = slot.flight().rejected.clone();
        let deadline = tokio::time::Instant::now()
            .checked_add(self.config.max_wait)
            .unwrap_or_else(|| tokio::time::Instant::now() + crate::config::MAX_BACKOFF);
        loop {
            let now = self.clock.now();
            let stored = match self.read(key, slot).await {
                Ok(stored) => stored,
                Err(error) => return self.fail_without_store(slot, flight, error, now),
            };
            let rejected_here = rejected
                .as_ref()
                .is_some_and(|token| *token == stored.tokens.access_token);
            let cached = self.cache(slot, &stored);
            let wanted = match mode {
                Mode::Forced => true,
                Mode::Due => rejected_here || !cached.fresh(now),
                Mode::Ahead(by) => {
                    rejected_here
                        || !cached.fresh(now)
                        || (!cached.fresh(now.checked_add(by).unwrap_or(now))
                            && crate::refresher::past_half_life(&stored.tokens, now))
                }
            };
            if !wanted {
                return flight.publish(Ok(cached));
            }
            let usable = !rejected_here && !stored.tokens.is_expired(now);
            let Some(refresh_token) = stored.tokens.refresh_token.clone() else {
                if mode == Mode::Forced {
                    return flight.publish(Err(Error::InvalidRequest(format!(
                        "installation {key} has no refresh token"
                    ))));
                }
                if usable {
                    return flight.publish(Ok(cached));
                }
                return flight.publish(Err(Error::NeedsReauthorization {
                    installation: key.to_string(),
                    reason: "the access token can no longer be used and there is no refresh token"
                        .into(),
                }));
            };
            let lease = match self
                .store
                .try_acquire_lease(key, &self.holder, self.config.lease_ttl)
                .await
            {
                Ok(Some(lease)) => lease,
                Ok(None) if mode == Mode::Forced => {
                    return flight.publish(Err(Error::InvalidRequest(format!(
                        "installation {key} is being refreshed by another process; try again shortly"
                    ))));
                }
                Ok(None) if usable => {
                    // Another process is refreshing; its write will be picked up. Serve the valid
                    // token meanwhile and look again a little later.
                    self.schedule(slot, after(now, self.config.recheck_interval), None);
                    return flight.publish(Ok(cached));
                }
                Ok(None) => {
                    if tokio::time::Instant::now() >= deadline {
                        return flight.publish(Err(Error::Timeout {
                            provider: key.provider().clone(),
                            operation: "waiting for another process's refresh",
                            request_sent: RequestSent::No,
                        }));
                    }
                    tokio::time::sleep(self.config.poll_interval).await;
                    continue;
                }
                Err(error) if usable && mode != Mode::Forced => {
                    return self.fail_without_store(slot, flight, error, now);
                }
                Err(error) => return flight.publish(Err(error)),
            };
            let heartbeat = Heartbeat::start(self, &lease);
            // With the lease, read again: the previous holder may have just written.
            let current = match self.read(key, slot).await {
                Ok(current) => current,
                Err(error) => {
                    drop(heartbeat);
                    self.release(&lease).await;
                    return self.fail_without_store(slot, flight, error, now);
                }
            };
            if current.version != stored.version {
                drop(heartbeat);
                self.release(&lease).await;
                continue;
            }
            self.refresh(key, flight, &current, &refresh_token, usable, &heartbeat)
                .await;
            drop(heartbeat);
            self.release(&lease).await;
            return;
        }
    }

    /// The stored installation, or the error callers get (unknown, marked). Clears the cache
    /// when the store no longer has a usable installation.
    async fn read(&self, key: &TokenKey, slot: &Slot) -> oauth_core::Result<StoredTokenSet> {
        let Some(stored) = self.store.get(key).await? else {
            slot.cached.store(None);
            return Err(Error::InstallationNotFound {
                installation: key.to_string(),
            });
        };
        if let Some(reason) = &stored.needs_reauthorization {
            slot.cached.store(None);
            return Err(Error::NeedsReauthorization {
                installation: key.to_string(),
                reason: reason.clone(),
            });
        }
        Ok(stored)
    }

    /// The store could not be read or the lease not taken: serve a usable cached token (and look
    /// again after the failure backoff), or fail.
    fn fail_without_store(&self, slot: &Slot, flight: &Flight, error: Error, now: SystemTime) {
        let usable = slot.cached.load_full().filter(|c| c.usable(now));
        match (error.kind(), usable) {
            (ErrorKind::NotFound | ErrorKind::ReauthorizationRequired, _) | (_, None) => {
                flight.publish(Err(error));
            }
            (_, Some(cached)) => {
                tracing::warn!(%error, "the token store failed; serving the cached token");
                self.schedule(slot, after(now, self.config.retry_after_failure), None);
                flight.publish(Ok(cached));
            }
        }
    }

    /// Caches `stored` (keeping what is cached if it is the same version), reporting tokens that
    /// another process refreshed.
    pub(crate) fn cache(&self, slot: &Slot, stored: &StoredTokenSet) -> Arc<Cached> {
        if let Some(cached) = slot.cached.load_full()
            && cached.version == stored.version
            && !cached.unwritten
        {
            return cached;
        }
        let elsewhere = slot
            .cached
            .load()
            .as_ref()
            .is_some_and(|c| c.version != stored.version);
        let cached = Arc::new(self.entry(stored.tokens.clone(), stored.version));
        self.mark_if_rejected(slot, &cached);
        slot.cached.store(Some(cached.clone()));
        if elsewhere {
            emit(
                self.hook.as_ref(),
                TokenEvent::PickedUp {
                    key: stored.key.clone(),
                },
            );
        }
        cached
    }

    fn mark_if_rejected(&self, slot: &Slot, cached: &Cached) {
        let flight = slot.flight();
        if flight
            .rejected
            .as_ref()
            .is_some_and(|token| *token == cached.tokens.access_token)
        {
            cached.reject();
        }
    }

    /// Sets the next refresh's earliest time (and the error to answer until then).
    pub(crate) fn schedule(
        &self,
        slot: &Slot,
        not_before: SystemTime,
        rate_limited: Option<Error>,
    ) {
        let mut flight = slot.flight();
        flight.not_before = Some(not_before);
        flight.rate_limited = rate_limited;
    }

    async fn release(&self, lease: &Lease) {
        if let Err(error) = self.store.release_lease(lease).await {
            tracing::warn!(installation = %lease.key, %error, "could not release the refresh lease; it will lapse");
        }
    }

    /// Calls the provider with the lease held, then writes or reports the result.
    async fn refresh(
        &self,
        key: &TokenKey,
        flight: &Flight,
        current: &StoredTokenSet,
        refresh_token: &RefreshToken,
        usable: bool,
        heartbeat: &Heartbeat,
    ) {
        let slot = &flight.slot;
        let result = self.provider.refresh(refresh_token).await;
        heartbeat.answered();
        let now = self.clock.now();
        match result {
            Ok(mut tokens) => {
                // Never lose what the refresh response does not repeat.
                if tokens.refresh_token.is_none() {
                    tokens.refresh_token = Some(refresh_token.clone());
                }
                merge_grantee(&mut tokens, &current.tokens);
                self.write(key, flight, current.version, refresh_token, tokens)
                    .await;
            }
            Err(error) if error.needs_reauthorization() => {
                self.refused(key, flight, current, refresh_token, error)
                    .await;
            }
            Err(error) => {
                let lost = matches!(error.kind(), ErrorKind::Transport | ErrorKind::Timeout);
                let delay = error.retry_after().unwrap_or(if lost {
                    self.config.retry_after_lost_response
                } else {
                    self.config.retry_after_failure
                });
                let rate_limited = error.retry_after().map(|_| error.clone());
                self.schedule(slot, after(now, delay), rate_limited);
                emit(
                    self.hook.as_ref(),
                    TokenEvent::RefreshFailed {
                        key: key.clone(),
                        kind: error.kind(),
                        served_old_token: usable,
                    },
                );
                match slot.cached.load_full().filter(|_| usable) {
                    Some(cached) => flight.publish(Ok(cached)),
                    None => flight.publish(Err(error)),
                }
            }
        }
    }

    /// The provider refused the refresh token for good: mark the installation, unless the row
    /// moved on meanwhile (then its tokens are newer than the refused one).
    async fn refused(
        &self,
        key: &TokenKey,
        flight: &Flight,
        current: &StoredTokenSet,
        refresh_token: &RefreshToken,
        error: Error,
    ) {
        let slot = &flight.slot;
        let reason = error
            .provider_error()
            .map(|e| e.code().to_owned())
            .unwrap_or_else(|| format!("{:?}", error.kind()));
        match self
            .store
            .mark_needs_reauthorization(key, current.version, &reason)
            .await
        {
            Ok(CasOutcome::Conflict {
                current: Some(newer),
            }) if newer.needs_reauthorization.is_none()
                && newer.tokens.refresh_token.as_ref() != Some(refresh_token) =>
            {
                tracing::warn!(installation = %key, "the refresh was refused, but the installation was written meanwhile; using the stored tokens");
                return flight.publish(Ok(self.cache(slot, &newer)));
            }
            Ok(CasOutcome::Conflict { current: None }) => {
                slot.cached.store(None);
                return flight.publish(Err(Error::InstallationNotFound {
                    installation: key.to_string(),
                }));
            }
            Ok(_) => {}
            Err(store_error) => {
                tracing::warn!(installation = %key, %store_error, "could not mark the installation as needing re-authorization");
            }
        }
        slot.cached.store(None);
        emit(
            self.hook.as_ref(),
            TokenEvent::ReauthorizationRequired {
                key: key.clone(),
                reason,
            },
        );
        flight.publish(Err(error));
    }

    /// Writes rotated tokens with compare-and-swap, settling conflicts by the rule of
    /// [`resolve`], and retrying store failures with backoff until the write lands (the tokens
    /// are served from memory meanwhile): a token set obtained from the provider is never dropped
    /// for a store failure.
    async fn write(
        &self,
        key: &TokenKey,
        flight: &Flight,
        read_version: u64,
        spent: &RefreshToken,
        tokens: TokenSet,
    ) {
        let slot = &flight.slot;
        let mut expected = read_version;
        let mut failures = 0u32;
        // Set once the tokens are served from memory before their write landed.
        let mut served_unwritten = false;
        loop {
            match self.store.compare_and_swap(key, expected, &tokens).await {
                Ok(CasOutcome::Swapped { version }) => {
                    return self.written(key, flight, tokens, version);
                }
                Ok(CasOutcome::Conflict {
                    current: Some(stored),
                }) => match resolve(&stored, spent, &tokens) {
                    Resolution::AlreadyWritten => {
                        return self.written(key, flight, tokens, stored.version);
                    }
                    Resolution::Overwrite { version } => {
                        tracing::warn!(installation = %key, "the installation was written with the refresh token our refresh spent; writing the new tokens over it");
                        expected = version;
                    }
                    Resolution::Theirs => {
                        tracing::warn!(installation = %key, "the installation was written during our refresh with other tokens (a new install?); using the stored tokens");
                        let cached = self.cache(slot, &stored);
                        return flight.publish(Ok(cached));
                    }
                },
                Ok(CasOutcome::Conflict { current: None }) => {
                    tracing::warn!(installation = %key, "the installation was deleted during its refresh; dropping the new tokens");
                    slot.cached.store(None);
                    return flight.publish(Err(Error::InstallationNotFound {
                        installation: key.to_string(),
                    }));
                }
                Ok(_) => {
                    tracing::error!(installation = %key, "unknown compare-and-swap outcome; trying the write again");
                    failures = failures.saturating_add(1);
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    if !served_unwritten {
                        served_unwritten = true;
                        let cached = Arc::new(Cached::unwritten(
                            tokens.clone(),
                            expected,
                            self.config.refresh_margin,
                        ));
                        slot.cached.store(Some(cached.clone()));
                        flight.publish(Ok(cached));
                        emit(
                            self.hook.as_ref(),
                            TokenEvent::WriteDelayed {
                                key: key.clone(),
                                kind: error.kind(),
                            },
                        );
                    }
                    tracing::warn!(installation = %key, %error, attempt = failures, "could not write the rotated tokens; serving them from memory and trying again");
                }
            }
            if failures > 0 {
                let exponent = (failures - 1).min(16);
                let delay = WRITE_RETRY_FIRST
                    .saturating_mul(1 << exponent)
                    .min(WRITE_RETRY_MAX);
                tokio::time::sleep(delay).await;
            }
        }
    }

    fn written(&self, key: &TokenKey, flight: &Flight, tokens: TokenSet, version: u64) {
        let expires_at = tokens.expires_at;
        let cached = Arc::new(self.entry(tokens, version));
        flight.slot.cached.store(Some(cached.clone()));
        {
            let mut state = flight.slot.flight();
            state.not_before = None;
            state.rate_limited = None;
            if state
                .rejected
                .as_ref()
                .is_some_and(|token| *token != cached.tokens.access_token)
            {
                state.rejected = None;
            }
        }
        emit(
            self.hook.as_ref(),
            TokenEvent::Refreshed {
                key: key.clone(),
                expires_at,
            },
        );
        flight.publish(Ok(cached));
    }
}

/// Refresh responses may omit who the grant belongs to; keep what the installation had.
fn merge_grantee(new: &mut TokenSet, old: &TokenSet) {
    let (n, o) = (&mut new.grantee, &old.grantee);
    for (field, previous) in [
        (&mut n.workspace_id, &o.workspace_id),
        (&mut n.workspace_name, &o.workspace_name),
        (&mut n.enterprise_id, &o.enterprise_id),
        (&mut n.enterprise_name, &o.enterprise_name),
        (&mut n.user_id, &o.user_id),
        (&mut n.bot_id, &o.bot_id),
    ] {
        if field.is_none() {
            field.clone_from(previous);
        }
    }
    if new.scopes.is_empty() {
        new.scopes = old.scopes.clone();
    }
    for (key, value) in old.extras.as_map() {
        if new.extras.get(key).is_none() {
            new.extras.insert(key.clone(), value.clone());
        }
    }
}
