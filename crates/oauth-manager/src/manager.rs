//! The token manager: its public API, its builder, and how callers meet the refresh in flight.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use oauth_core::{
    AccessToken, Clock, CodeExchange, Error, Grant, Installation, InstallationKey, RequestSent,
    Result, SystemClock, TokenKey, TokenProvider, TokenSet, TokenStore,
};
use tokio::sync::{Notify, watch};

use crate::cache::SlotCache;
use crate::config::ManagerConfig;
use crate::events::EventHook;
use crate::eviction::Sweeps;
use crate::flight::{Flight, Mode};
use crate::slot::{Cached, FlightState, Outcome, Slot};

pub(crate) struct Inner {
    pub(crate) provider: Arc<dyn TokenProvider>,
    pub(crate) store: Arc<dyn TokenStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: ManagerConfig,
    pub(crate) holder: String,
    /// One slot per token set in use (`cache.rs`), evicted when idle (`eviction.rs`).
    pub(crate) cache: SlotCache,
    pub(crate) sweeps: Sweeps,
    pub(crate) hook: Option<EventHook>,
    next_flight: AtomicU64,
    /// Refresh tasks not yet finished (their writes included), for [`TokenManager::flush`].
    in_flight: AtomicUsize,
    idle: Notify,
}

impl Inner {
    pub(crate) fn in_flight_done(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// Hands out a valid access token per installation: cached, refreshed before expiry, rotated
/// refresh tokens written before anyone else can use the old ones, one refresh in flight per
/// installation across every task and every process sharing the store.
///
/// - **Hot path**: a cached token that is not due for refresh is returned without any lock.
/// - **Callers with a valid token never wait.** When a token enters its refresh margin, the
///   refresh runs in a task of its own and callers keep getting the cached token until it is
///   done; the same while another process refreshes, and during a backoff after a failure.
/// - **Single flight**: callers without a usable token (none cached, expired, or rejected by the
///   provider) wait for the one refresh in flight and all get its result, its error included.
///   Across processes the store's refresh lease elects one refresher, renewed while it runs; the
///   others pick its result up from the store.
/// - **Never lose a rotation**: a cancelled caller does not abandon a refresh; the new token set
///   is written with compare-and-swap, and if the store fails it is served from memory and
///   written again until the write lands. A conflict keeps whichever token set did not spend the
///   other's refresh token.
/// - **Failures**: a transient failure while the old token is valid serves the old token and
///   retries later; a refusal of the grant (`invalid_grant`, a spent refresh token) marks the
///   installation as needing re-authorization and returns the typed error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> oauth_core::Result<()> {
/// use std::sync::Arc;
/// use oauth_core::{MemoryTokenStore, TokenProvider};
/// use oauth_manager::TokenManager;
/// // `provider` is e.g. an `Arc<SlackClient>` (here a mock: a manager asks for its provider id);
/// // the store a SQLite or PostgreSQL store.
/// let mock = oauth_core::mock::MockTokenProvider::for_provider(oauth_core::ProviderId::from_static("slack"));
/// let provider: Arc<dyn TokenProvider> = Arc::new(mock);
/// let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build()?;
/// for key in manager.list().await? {
///     let token = manager.access_token(&key).await?; // valid now; refreshed if it was due
/// #   let _ = token;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenManager {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("provider", &self.inner.provider.provider_id())
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .field("holder", &self.inner.holder)
            .finish_non_exhaustive()
    }
}

/// Configures a [`TokenManager`].
pub struct TokenManagerBuilder {
    provider: Arc<dyn TokenProvider>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    config: ManagerConfig,
    holder: Option<String>,
    hook: Option<EventHook>,
}

impl fmt::Debug for TokenManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManagerBuilder")
            .field("provider", &self.provider.provider_id())
            .field("store", &self.store)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TokenManagerBuilder {
    /// Sets the tuning.
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `clock` for expiry decisions (tests use a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Names this manager as a lease holder (default: process id and a random suffix).
    pub fn holder_id(mut self, holder: impl Into<String>) -> Self {
        self.holder = Some(holder.into());
        self
    }

    /// Calls `hook` on every [`TokenEvent`](crate::TokenEvent).
    pub fn on_event(mut self, hook: EventHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Builds the manager.
    ///
    /// Fails with [`Error::Configuration`] when the configuration cannot keep the manager's
    /// promises: a zero lease, poll, re-check or revalidation interval, or a refresh lease that is not longer
    /// than one refresh call of the provider client can take
    /// ([`TokenGrant::refresh_time_bound`](oauth_core::TokenGrant::refresh_time_bound)); the
    /// message names both figures.
    pub fn build(self) -> Result<TokenManager> {
        self.config.check(self.provider.refresh_time_bound())?;
        let holder = self.holder.unwrap_or_else(|| {
            let suffix = getrandom::u64().unwrap_or(0);
            format!("pid{}-{suffix:016x}", std::process::id())
        });
        Ok(TokenManager {
            inner: Arc::new(Inner {
                provider: self.provider,
                store: self.store,
                clock: self.clock,
                config: self.config,
                holder,
                cache: SlotCache::new(),
                sweeps: Sweeps::default(),
                hook: self.hook,
                next_flight: AtomicU64::new(0),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        })
    }
}

impl TokenManager {
    /// A manager of `provider`'s installations kept in `store`.
    pub fn builder(
        provider: Arc<dyn TokenProvider>,
        store: Arc<dyn TokenStore>,
    ) -> TokenManagerBuilder {
        TokenManagerBuilder {
            provider,
            store,
            clock: Arc::new(SystemClock),
            config: ManagerConfig::default(),
            holder: None,
            hook: None,
        }
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn TokenProvider> {
        &self.inner.provider
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.inner.store
    }

    /// A valid access token for `key`. A token due for refresh (within the margin) is still
    /// served while its refresh runs in the background; a caller waits only when no usable token
    /// is cached.
    pub async fn access_token(&self, key: &TokenKey) -> Result<AccessToken> {
        if let Some(token) = self.fresh_cached(key, |cached| cached.tokens.access_token.clone()) {
            return Ok(token);
        }
        Ok(self.slow_path(key).await?.tokens.access_token.clone())
    }

    /// The whole valid token set for `key` (see [`access_token`](Self::access_token)).
    pub async fn token_set(&self, key: &TokenKey) -> Result<TokenSet> {
        if let Some(tokens) = self.fresh_cached(key, |cached| cached.tokens.clone()) {
            return Ok(tokens);
        }
        Ok(self.slow_path(key).await?.tokens.clone())
    }

    /// The access token of the first of `candidates` that the store holds, with its key: a
    /// lookup that tries, in order, where a token may be (Slack: a workspace's installation, then
    /// its organisation's org-wide one). `None` when none is stored; a candidate that exists but
    /// cannot serve (marked for re-authorization, a refresh failing) is an error, not skipped.
    pub async fn first_access_token(
        &self,
        candidates: &[TokenKey],
    ) -> Result<Option<(TokenKey, AccessToken)>> {
        for key in candidates {
            match self.access_token(key).await {
                Ok(token) => return Ok(Some((key.clone(), token))),
                Err(Error::InstallationNotFound { .. }) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(None)
    }

    /// Tells the manager that the provider refused `token` for `key` (Slack `token_expired` or
    /// `invalid_auth`, Notion `401 unauthorized`: say, after a clock skew, or a rotation by
    /// another replica the cache has not seen). If it is still the cached token, the next call
    /// does not serve it: it refreshes (once, whatever the number of callers, as always) or picks
    /// up a newer token from the store. A token already replaced is ignored.
    pub fn report_rejected_token(&self, key: &TokenKey, token: &AccessToken) {
        let Some(slot) = self.inner.cache.get(key) else {
            return;
        };
        let mut state = slot.flight();
        if slot.is_evicted() {
            // Evicted meanwhile: its tokens will be read again from the store (and the next
            // rejection reported for the slot that holds them).
            return;
        }
        if let Some(cached) = slot.cached.load().as_ref()
            && cached.tokens.access_token != *token
        {
            return;
        }
        state.rejected = Some(token.clone());
        // A backoff must not keep a caller from replacing a token the provider refuses.
        state.not_before = None;
        drop(state);
        if let Some(cached) = slot.cached.load().as_ref() {
            cached.reject();
        }
        tracing::info!(installation = %key, "the provider rejected the access token; the next call refreshes");
    }

    /// The hot path: `read` of the cached tokens if they are not due for refresh, under one
    /// shard's read lock and without writing any counter shared between callers. Once per
    /// `revalidate_interval`, a caller also starts a look at the store in the background.
    fn fresh_cached<R>(&self, key: &TokenKey, read: impl FnOnce(&Cached) -> R) -> Option<R> {
        self.inner
            .cache
            .with(key, |slot| {
                let cached = slot.cached.load();
                let cached = cached.as_ref()?;
                let now = self.inner.clock.now();
                if !cached.fresh(now) {
                    return None;
                }
                slot.touch(now);
                if cached.revalidation_due(now, self.inner.config.revalidate_interval) {
                    self.inner.revalidate(key, slot, cached.clone());
                    self.inner.maybe_sweep();
                }
                Some(read(cached))
            })
            .flatten()
    }

    pub(crate) fn check_provider(&self, key: &TokenKey) -> Result<()> {
        let ours = self.inner.provider.provider_id();
        if key.provider() == &ours {
            Ok(())
        } else {
            Err(Error::configuration(format!(
                "installation {key} belongs to provider `{}`, but this manager manages `{ours}`",
                key.provider()
            )))
        }
    }

    /// A usable token for a caller that found none fresh: the cached one while it is valid (a
    /// refresh is started in the background if due), else the result of the refresh in flight.
    async fn slow_path(&self, key: &TokenKey) -> Result<Arc<Cached>> {
        self.check_provider(key)?;
        let mut slot = self.load(key).await?;
        let deadline = tokio::time::Instant::now().checked_add(self.inner.config.max_wait);
        loop {
            let now = self.inner.clock.now();
            slot.touch(now);
            let (receiver, unusable) = {
                let mut state = slot.flight();
                if slot.is_evicted() {
                    drop(state);
                    slot = self.load(key).await?;
                    continue;
                }
                let cached = slot.cached.load_full();
                if let Some(cached) = &cached
                    && cached.fresh(now)
                {
                    return Ok(cached.clone());
                }
                let unusable = cached.as_ref().map(|c| c.tokens.access_token.clone());
                let usable = cached.filter(|c| c.usable(now));
                let running = state.running.as_ref().map(|(_, rx)| rx.clone());
                let backing_off = state.not_before.is_some_and(|at| now < at);
                let receiver = match (running, usable) {
                    (Some(_), Some(cached)) => return Ok(cached),
                    (None, Some(cached)) => {
                        if !backing_off {
                            self.start_flight(&slot, &mut state, key, Mode::Due);
                        }
                        return Ok(cached);
                    }
                    (Some(receiver), None) => receiver,
                    (None, None) => match &state.rate_limited {
                        Some(error) if backing_off => return Err(error.clone()),
                        _ => self.start_flight(&slot, &mut state, key, Mode::Due),
                    },
                };
                (receiver, unusable)
            };
            let cached = self.wait(key, receiver, deadline).await?;
            if unusable.as_ref() != Some(&cached.tokens.access_token)
                || cached.usable(self.inner.clock.now())
            {
                return Ok(cached);
            }
            // The refresh this caller joined served the very token this caller could not use (it
            // started before the token expired or was rejected): go round again.
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Err(self.timeout(key));
            }
            tokio::time::sleep(self.inner.config.poll_interval).await;
        }
    }

    /// Starts a refresh task and returns where its outcome will be published.
    pub(crate) fn start_flight(
        &self,
        slot: &Arc<Slot>,
        state: &mut FlightState,
        key: &TokenKey,
        mode: Mode,
    ) -> watch::Receiver<Option<Outcome>> {
        let id = self.inner.next_flight.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(None);
        state.running = Some((id, receiver.clone()));
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let flight = Flight {
            id,
            slot: slot.clone(),
            sender,
            inner: self.inner.clone(),
        };
        let (inner, key) = (self.inner.clone(), key.clone());
        // The work runs in its own task so that a caller that gives up (a dropped future, a
        // timeout) cannot abandon a refresh between the provider's answer and the store write.
        tokio::spawn(async move {
            let work = flight.slot.work.clone().lock_owned().await;
            inner.fly(&key, &flight, mode).await;
            let slot = flight.slot.clone();
            drop(flight);
            drop(work);
            // The row was gone or marked: nothing of it stays behind (unless callers still hold
            // the slot; then a sweep takes it).
            if slot.cached.load().is_none() {
                inner.discard(&key, slot);
            }
        });
        receiver
    }

    /// Waits for a published outcome, until `deadline`.
    pub(crate) async fn wait(
        &self,
        key: &TokenKey,
        mut receiver: watch::Receiver<Option<Outcome>>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Arc<Cached>> {
        let published = receiver.wait_for(Option::is_some);
        let published = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, published)
                .await
                .map_err(|_| self.timeout(key))?,
            None => published.await,
        };
        match published {
            Ok(outcome) => outcome
                .clone()
                .unwrap_or_else(|| Err(Error::Internal("no refresh outcome".into()))),
            Err(_) => Err(Error::Internal(
                "the refresh task ended without a result".into(),
            )),
        }
    }

    fn timeout(&self, key: &TokenKey) -> Error {
        Error::Timeout {
            provider: key.provider().clone(),
            operation: "waiting for the refresh",
            request_sent: RequestSent::No,
        }
    }

    /// Waits until every refresh this manager started has finished, its rotated tokens written
    /// (a write the store refused is retried until it lands). Call it before shutting down, so
    /// that no rotated token is left only in memory.
    pub async fn flush(&self) {
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Saves everything an authorization granted (after a code exchange): the installation's
    /// record and each of its token sets, in one store transaction, replacing those principals'
    /// previous tokens and clearing their re-authorization marks; the installation's other token
    /// sets (other users') stay. The keys of the token sets saved.
    pub async fn save_grant(&self, grant: &Grant) -> Result<Vec<TokenKey>> {
        let keys: Vec<TokenKey> = grant
            .tokens
            .iter()
            .map(|granted| grant.token_key(granted.principal.clone()))
            .collect();
        for key in &keys {
            self.check_provider(key)?;
        }
        // The work locks of every token set, in key order (no two savers can deadlock), so that
        // no refresh of this process runs across the save.
        let mut ordered = keys.clone();
        ordered.sort();
        ordered.dedup();
        let mut locked = Vec::with_capacity(ordered.len());
        for key in &ordered {
            locked.push(self.lock_work(key).await);
        }
        let written = self.inner.store.save_grant(grant).await?;
        for (key, version) in written {
            let slot = ordered
                .iter()
                .position(|k| *k == key)
                .and_then(|i| locked.get(i));
            if let (Some((slot, _)), Some(tokens)) = (slot, grant.tokens_of(key.principal())) {
                self.cache_saved(slot, tokens.clone(), version);
            }
        }
        drop(locked);
        Ok(keys)
    }

    /// Saves one token set under `key`, replacing its previous tokens and clearing its
    /// re-authorization mark.
    pub async fn save_tokens(&self, key: &TokenKey, tokens: TokenSet) -> Result<()> {
        self.check_provider(key)?;
        let (slot, _work) = self.lock_work(key).await;
        let version = self.inner.store.save(key, &tokens).await?;
        self.cache_saved(&slot, tokens, version);
        Ok(())
    }

    fn cache_saved(&self, slot: &Slot, tokens: TokenSet, version: u64) {
        slot.touch(self.inner.clock.now());
        {
            let mut state = slot.flight();
            state.not_before = None;
            state.rate_limited = None;
            state.rejected = None;
        }
        slot.cached
            .store(Some(Arc::new(self.inner.entry(tokens, version))));
    }

    /// Exchanges an authorization code and saves everything it granted
    /// ([`save_grant`](Self::save_grant)); the grant.
    pub async fn exchange_and_save(&self, exchange: CodeExchange) -> Result<Grant> {
        let grant = self.inner.provider.exchange_code(exchange).await?;
        self.save_grant(&grant).await?;
        Ok(grant)
    }

    /// Refreshes now, whatever the expiry (still one refresh at a time). Fails rather than waits
    /// if another process holds the refresh lease.
    pub async fn force_refresh(&self, key: &TokenKey) -> Result<TokenSet> {
        self.check_provider(key)?;
        let receiver = loop {
            let slot = self.load(key).await?;
            let mut state = slot.flight();
            if !slot.is_evicted() {
                break self.start_flight(&slot, &mut state, key, Mode::Forced);
            }
        };
        Ok(self.wait(key, receiver, None).await?.tokens.clone())
    }

    /// Revokes one token set's access token at the provider (the bot's, or one user's), then
    /// deletes that token set from the store; the installation and its other token sets stay.
    ///
    /// A revocation the provider refuses because the token is already invalid does not stop the
    /// deletion; a transient failure (network, outage, rate limit) does, so that no live token is
    /// forgotten: call again later.
    pub async fn revoke_and_delete(&self, key: &TokenKey) -> Result<()> {
        self.check_provider(key)?;
        let (slot, work) = self.lock_work(key).await;
        if let Some(stored) = self.inner.store.get(key).await? {
            self.revoke(key, &stored.tokens).await?;
            self.inner.store.delete(key).await?;
        }
        slot.cached.store(None);
        drop(work);
        self.inner.discard(key, slot);
        Ok(())
    }

    /// Uninstalls: revokes every token set of the installation at the provider (as
    /// [`revoke_and_delete`](Self::revoke_and_delete) does), then deletes the installation (its
    /// record and token sets). A transient revocation failure stops it before anything is
    /// deleted: call again later.
    pub async fn uninstall(&self, installation: &InstallationKey) -> Result<()> {
        let keys = self.inner.store.token_keys(installation).await?;
        for key in &keys {
            self.check_provider(key)?;
        }
        for key in &keys {
            let (_slot, _work) = self.lock_work(key).await;
            if let Some(stored) = self.inner.store.get(key).await? {
                self.revoke(key, &stored.tokens).await?;
            }
        }
        self.inner.store.delete_installation(installation).await?;
        for key in &keys {
            if let Some(slot) = self.inner.cache.get(key) {
                slot.cached.store(None);
                self.inner.discard(key, slot);
            }
        }
        Ok(())
    }

    /// Uninstalls every installation of an organisation (Slack: an Enterprise Grid org's
    /// workspace installs and its org-wide install), as [`uninstall`](Self::uninstall) does each;
    /// the installations removed.
    pub async fn uninstall_enterprise(&self, enterprise_id: &str) -> Result<Vec<InstallationKey>> {
        let provider = self.inner.provider.provider_id();
        let installations = self
            .inner
            .store
            .enterprise_installations(&provider, enterprise_id)
            .await?;
        for installation in &installations {
            self.uninstall(installation).await?;
        }
        Ok(installations)
    }

    /// Revokes `tokens`' access token; a refusal of an already-invalid token is not an error.
    async fn revoke(&self, key: &TokenKey, tokens: &TokenSet) -> Result<()> {
        if let Err(error) = self.inner.provider.revoke(&tokens.access_token).await {
            if error.is_retryable() {
                return Err(error);
            }
            tracing::info!(token_set = %key, kind = ?error.kind(), "revocation refused (token already invalid?); deleting anyway");
        }
        Ok(())
    }

    /// An installation's record.
    pub async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        self.inner.store.installation(key).await
    }

    /// The token sets of an installation.
    pub async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        self.inner.store.token_keys(installation).await
    }

    /// The token sets of this manager's provider in the store, ordered by key.
    pub async fn list(&self) -> Result<Vec<TokenKey>> {
        let provider = self.inner.provider.provider_id();
        self.inner.store.list(Some(&provider)).await
    }
}
