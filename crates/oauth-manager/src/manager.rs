//! The token manager.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::{ArcSwap, ArcSwapOption};
use oauth_core::{
    AccessToken, CasOutcome, Clock, CodeExchange, Error, ErrorKind, InstallationKey, Lease, Result,
    StoredInstallation, SystemClock, TokenProvider, TokenSet, TokenStore,
};
use tokio::sync::Mutex;

use crate::events::{EventHook, TokenEvent, emit};

/// Tuning of a [`TokenManager`].
#[derive(Clone, Debug)]
pub struct ManagerConfig {
    refresh_margin: Duration,
    lease_ttl: Duration,
    retry_after_failure: Duration,
    retry_after_lost_response: Duration,
    poll_interval: Duration,
    max_wait: Duration,
}

impl Default for ManagerConfig {
    /// Refresh 5 minutes before expiry; refresh leases of 30 s; after a failed refresh while the
    /// old token is still valid, serve it and try again after 30 s (1 s when the response was
    /// lost, to stay within Slack's grace period for a spent refresh token); wait up to 60 s for
    /// another process's refresh, checking every 25 ms.
    fn default() -> Self {
        Self {
            refresh_margin: Duration::from_secs(300),
            lease_ttl: Duration::from_secs(30),
            retry_after_failure: Duration::from_secs(30),
            retry_after_lost_response: Duration::from_secs(1),
            poll_interval: Duration::from_millis(25),
            max_wait: Duration::from_secs(60),
        }
    }
}

impl ManagerConfig {
    /// Refresh this long before the access token expires.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// How long a refresh lease lasts if its holder dies; longer than a refresh call takes.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }

    /// After a transient refresh failure with the old token still valid, wait this long before
    /// trying again (unless the provider said how long with `Retry-After`).
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

    /// How often to look at the store while another process holds the refresh lease.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest a caller waits for another process's refresh before failing.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }
}

type Slots = HashMap<InstallationKey, Arc<Slot>, foldhash::fast::RandomState>;

#[derive(Debug)]
struct Cached {
    tokens: TokenSet,
    version: u64,
}

#[derive(Debug, Default)]
struct SlotState {
    /// After a failed refresh, do not try again before this time (the old token is served).
    backoff_until: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct Slot {
    cached: ArcSwapOption<Cached>,
    refresh: Arc<Mutex<SlotState>>,
}

struct Inner {
    provider: Arc<dyn TokenProvider>,
    store: Arc<dyn TokenStore>,
    clock: Arc<dyn Clock>,
    config: ManagerConfig,
    holder: String,
    /// Copy-on-write (a new installation is rare; reads are lock-free). foldhash: fast, and
    /// seeded per process, so keys derived from request data cannot be used for hash flooding.
    slots: ArcSwap<Slots>,
    hook: Option<EventHook>,
}

/// Hands out a valid access token per installation: cached, refreshed before expiry, rotated
/// refresh tokens written before anyone uses them, one refresh in flight per installation across
/// every task and every process sharing the store.
///
/// - **Hot path**: a cached token that does not expire within the refresh margin is returned
///   without any lock (two atomic loads).
/// - **Single flight**: callers for the same installation queue on one async mutex; the first
///   refreshes, the others find the new token. Across processes the store's refresh lease elects
///   one refresher; the others read its result from the store.
/// - **Never lose a rotation**: the refresh runs in its own task (a cancelled caller does not
///   abandon it), and the new token set is written with compare-and-swap before it is served.
/// - **Failures**: a transient failure while the old token is valid serves the old token and
///   retries later; a refusal of the grant (`invalid_grant`, a spent refresh token) marks the
///   installation as needing re-authorization and returns the typed error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> oauth_core::Result<()> {
/// use std::sync::Arc;
/// use oauth_core::{MemoryTokenStore, TokenProvider};
/// use oauth_manager::TokenManager;
/// # let mut mock = oauth_core::mock::MockTokenProvider::new();
/// # mock.expect_provider_id().return_const(oauth_core::ProviderId::from_static("slack"));
/// # let provider: Arc<dyn TokenProvider> = Arc::new(mock);
/// // `provider` is e.g. an `Arc<SlackClient>`; the store a SQLite or PostgreSQL store.
/// let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build();
/// for key in manager.list().await? {
///     let token = manager.access_token(&key).await?; // valid now; refreshed if it was about to expire
/// #   let _ = token;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
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

    /// Calls `hook` on every [`TokenEvent`].
    pub fn on_event(mut self, hook: EventHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Builds the manager.
    pub fn build(self) -> TokenManager {
        let holder = self.holder.unwrap_or_else(|| {
            let suffix = getrandom::u64().unwrap_or(0);
            format!("pid{}-{suffix:016x}", std::process::id())
        });
        TokenManager {
            inner: Arc::new(Inner {
                provider: self.provider,
                store: self.store,
                clock: self.clock,
                config: self.config,
                holder,
                slots: ArcSwap::from_pointee(Slots::default()),
                hook: self.hook,
            }),
        }
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

    /// A valid access token for `key`, refreshing first if it expires within the refresh margin.
    pub async fn access_token(&self, key: &InstallationKey) -> Result<AccessToken> {
        if let Some(token) = self.cached_access_token(key) {
            return Ok(token);
        }
        Ok(self.slow_path(key).await?.tokens.access_token.clone())
    }

    /// The whole valid token set for `key` (see [`access_token`](Self::access_token)).
    pub async fn token_set(&self, key: &InstallationKey) -> Result<TokenSet> {
        if let Some(cached) = self.fresh_cached(key) {
            return Ok(cached.tokens.clone());
        }
        Ok(self.slow_path(key).await?.tokens.clone())
    }

    /// The lock-free hot path: the cached token if it does not expire within the margin.
    fn cached_access_token(&self, key: &InstallationKey) -> Option<AccessToken> {
        let slots = self.inner.slots.load();
        let slot = slots.get(key)?;
        let cached = slot.cached.load();
        let cached = cached.as_ref()?;
        let now = self.inner.clock.now();
        (!cached
            .tokens
            .expires_within(self.inner.config.refresh_margin, now))
        .then(|| cached.tokens.access_token.clone())
    }

    fn fresh_cached(&self, key: &InstallationKey) -> Option<Arc<Cached>> {
        let slots = self.inner.slots.load();
        let cached = slots.get(key)?.cached.load_full()?;
        let now = self.inner.clock.now();
        (!cached
            .tokens
            .expires_within(self.inner.config.refresh_margin, now))
        .then_some(cached)
    }

    fn slot(&self, key: &InstallationKey) -> Arc<Slot> {
        if let Some(slot) = self.inner.slots.load().get(key) {
            return slot.clone();
        }
        let mut created = None;
        self.inner.slots.rcu(|slots| {
            let mut slots = Slots::clone(slots);
            let slot = slots.entry(key.clone()).or_default().clone();
            created = Some(slot);
            slots
        });
        created.unwrap_or_default()
    }

    fn check_provider(&self, key: &InstallationKey) -> Result<()> {
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

    async fn slow_path(&self, key: &InstallationKey) -> Result<Arc<Cached>> {
        self.check_provider(key)?;
        let slot = self.slot(key);
        let state = slot.refresh.clone().lock_owned().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(cached) = self.fresh_cached(key) {
            return Ok(cached);
        }
        // The work runs in its own task, holding the lock, so that a caller that gives up
        // (a dropped future, a timeout) cannot abandon a refresh between the provider's answer
        // and the store write.
        let inner = self.inner.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let mut state = state;
            inner.refresh_locked(&key, &slot, &mut state).await
        })
        .await
        .map_err(|e| Error::Internal(format!("the refresh task failed: {e}")))?
    }

    /// Saves the tokens of a new installation (after a code exchange) under their default key,
    /// replacing any previous tokens and clearing a re-authorization mark.
    pub async fn save_installation(&self, tokens: TokenSet) -> Result<InstallationKey> {
        let key = InstallationKey::for_tokens(&tokens);
        self.save_installation_as(&key, tokens).await?;
        Ok(key)
    }

    /// Saves the tokens of an installation under `key`.
    pub async fn save_installation_as(
        &self,
        key: &InstallationKey,
        tokens: TokenSet,
    ) -> Result<()> {
        self.check_provider(key)?;
        let slot = self.slot(key);
        let mut state = slot.refresh.lock().await;
        let version = self.inner.store.save(key, &tokens).await?;
        state.backoff_until = None;
        slot.cached
            .store(Some(Arc::new(Cached { tokens, version })));
        Ok(())
    }

    /// Exchanges an authorization code and saves the installation; its key and tokens.
    pub async fn exchange_and_save(
        &self,
        exchange: CodeExchange,
    ) -> Result<(InstallationKey, TokenSet)> {
        let tokens = self.inner.provider.exchange_code(exchange).await?;
        let key = self.save_installation(tokens.clone()).await?;
        Ok((key, tokens))
    }

    /// Refreshes now, whatever the expiry (still one refresh at a time).
    pub async fn force_refresh(&self, key: &InstallationKey) -> Result<TokenSet> {
        self.check_provider(key)?;
        let slot = self.slot(key);
        let _state = slot.refresh.lock().await;
        let stored = self.inner.require(key).await?;
        let refresh_token = stored.tokens.refresh_token.clone().ok_or_else(|| {
            Error::InvalidRequest(format!("installation {key} has no refresh token"))
        })?;
        let Some(lease) = self
            .inner
            .store
            .try_acquire_lease(key, &self.inner.holder, self.inner.config.lease_ttl)
            .await?
        else {
            return Err(Error::InvalidRequest(format!(
                "installation {key} is being refreshed by another process; try again shortly"
            )));
        };
        let result = self
            .inner
            .refresh_with_lease(key, &slot, &stored, &refresh_token)
            .await;
        self.inner.release(&lease).await;
        match result? {
            Refreshed::Done(cached) => Ok(cached.tokens.clone()),
            Refreshed::Failed(error) => Err(error),
        }
    }

    /// Revokes the installation's access token at the provider, then deletes it from the store.
    ///
    /// A revocation the provider refuses because the token is already invalid does not stop the
    /// deletion; a transient failure (network, outage, rate limit) does, so that no live token is
    /// forgotten: call again later.
    pub async fn revoke_and_delete(&self, key: &InstallationKey) -> Result<()> {
        self.check_provider(key)?;
        let slot = self.slot(key);
        let _state = slot.refresh.lock().await;
        let Some(stored) = self.inner.store.get(key).await? else {
            slot.cached.store(None);
            return Ok(());
        };
        if let Err(error) = self
            .inner
            .provider
            .revoke(&stored.tokens.access_token)
            .await
        {
            if error.is_retryable() {
                return Err(error);
            }
            tracing::info!(installation = %key, kind = ?error.kind(), "revocation refused (token already invalid?); deleting anyway");
        }
        self.inner.store.delete(key).await?;
        slot.cached.store(None);
        Ok(())
    }

    /// The installations of this manager's provider in the store.
    pub async fn list(&self) -> Result<Vec<InstallationKey>> {
        let provider = self.inner.provider.provider_id();
        self.inner.store.list(Some(&provider)).await
    }
}

enum Refreshed {
    Done(Arc<Cached>),
    /// The refresh failed; the slot state decides what the caller gets.
    Failed(Error),
}

impl Inner {
    async fn require(&self, key: &InstallationKey) -> Result<StoredInstallation> {
        let stored = self
            .store
            .get(key)
            .await?
            .ok_or_else(|| Error::InstallationNotFound {
                installation: key.to_string(),
            })?;
        if let Some(reason) = &stored.needs_reauthorization {
            return Err(Error::NeedsReauthorization {
                installation: key.to_string(),
                reason: reason.clone(),
            });
        }
        Ok(stored)
    }

    fn cache(&self, slot: &Slot, stored: &StoredInstallation) -> Arc<Cached> {
        let cached = Arc::new(Cached {
            tokens: stored.tokens.clone(),
            version: stored.version,
        });
        slot.cached.store(Some(cached.clone()));
        cached
    }

    async fn release(&self, lease: &Lease) {
        if let Err(error) = self.store.release_lease(lease).await {
            tracing::warn!(installation = %lease.key, %error, "could not release the refresh lease; it will lapse");
        }
    }

    async fn refresh_locked(
        &self,
        key: &InstallationKey,
        slot: &Slot,
        state: &mut SlotState,
    ) -> Result<Arc<Cached>> {
        let margin = self.config.refresh_margin;
        let deadline = tokio::time::Instant::now() + self.config.max_wait;
        loop {
            let now = self.clock.now();
            let stored = match self.require(key).await {
                Ok(stored) => stored,
                Err(error) => {
                    slot.cached.store(None);
                    return Err(error);
                }
            };
            if !stored.tokens.expires_within(margin, now) {
                let elsewhere = slot
                    .cached
                    .load()
                    .as_ref()
                    .is_some_and(|c| c.version != stored.version);
                if elsewhere {
                    emit(
                        self.hook.as_ref(),
                        TokenEvent::PickedUp { key: key.clone() },
                    );
                }
                return Ok(self.cache(slot, &stored));
            }
            let still_valid = !stored.tokens.is_expired(now);
            if still_valid && state.backoff_until.is_some_and(|until| now < until) {
                return Ok(self.cache(slot, &stored));
            }
            let Some(refresh_token) = stored.tokens.refresh_token.clone() else {
                if still_valid {
                    return Ok(self.cache(slot, &stored));
                }
                return Err(Error::NeedsReauthorization {
                    installation: key.to_string(),
                    reason: "the access token expired and there is no refresh token".into(),
                });
            };
            let Some(lease) = self
                .store
                .try_acquire_lease(key, &self.holder, self.config.lease_ttl)
                .await?
            else {
                // Another process is refreshing. Serve the old token while it is valid; otherwise
                // wait for the other process's write (or for its lease to lapse).
                if still_valid {
                    return Ok(self.cache(slot, &stored));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        provider: key.provider().clone(),
                        operation: "waiting for another process's refresh",
                        request_sent: oauth_core::RequestSent::No,
                    });
                }
                tokio::time::sleep(self.config.poll_interval).await;
                continue;
            };
            // With the lease, check again: the previous holder may have just written.
            let current = match self.require(key).await {
                Ok(current) => current,
                Err(error) => {
                    self.release(&lease).await;
                    return Err(error);
                }
            };
            if current.version != stored.version {
                self.release(&lease).await;
                continue;
            }
            let outcome = self
                .refresh_with_lease(key, slot, &current, &refresh_token)
                .await;
            self.release(&lease).await;
            match outcome? {
                Refreshed::Done(cached) => {
                    state.backoff_until = None;
                    return Ok(cached);
                }
                Refreshed::Failed(error) if error.needs_reauthorization() => return Err(error),
                Refreshed::Failed(error) => {
                    let lost = matches!(error.kind(), ErrorKind::Transport | ErrorKind::Timeout);
                    let delay = error.retry_after().unwrap_or(if lost {
                        self.config.retry_after_lost_response
                    } else {
                        self.config.retry_after_failure
                    });
                    state.backoff_until = now.checked_add(delay);
                    let served_old_token = !current.tokens.is_expired(self.clock.now());
                    emit(
                        self.hook.as_ref(),
                        TokenEvent::RefreshFailed {
                            key: key.clone(),
                            kind: error.kind(),
                            served_old_token,
                        },
                    );
                    if served_old_token {
                        return Ok(self.cache(slot, &current));
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Refreshes `current` while holding the lease, and writes the result.
    async fn refresh_with_lease(
        &self,
        key: &InstallationKey,
        slot: &Slot,
        current: &StoredInstallation,
        refresh_token: &oauth_core::RefreshToken,
    ) -> Result<Refreshed> {
        let mut tokens = match self.provider.refresh(refresh_token).await {
            Ok(tokens) => tokens,
            Err(error) if error.needs_reauthorization() => {
                let reason = error
                    .provider_error()
                    .map(|e| e.code().to_owned())
                    .unwrap_or_else(|| format!("{:?}", error.kind()));
                self.store
                    .mark_needs_reauthorization(key, current.version, &reason)
                    .await?;
                slot.cached.store(None);
                emit(
                    self.hook.as_ref(),
                    TokenEvent::ReauthorizationRequired {
                        key: key.clone(),
                        reason,
                    },
                );
                return Ok(Refreshed::Failed(error));
            }
            Err(error) => return Ok(Refreshed::Failed(error)),
        };
        // Never lose what the refresh response does not repeat.
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        merge_grantee(&mut tokens, &current.tokens);
        match self
            .store
            .compare_and_swap(key, current.version, &tokens)
            .await?
        {
            CasOutcome::Swapped { version } => {
                let expires_at = tokens.expires_at;
                let cached = Arc::new(Cached { tokens, version });
                slot.cached.store(Some(cached.clone()));
                emit(
                    self.hook.as_ref(),
                    TokenEvent::Refreshed {
                        key: key.clone(),
                        expires_at,
                    },
                );
                Ok(Refreshed::Done(cached))
            }
            CasOutcome::Conflict {
                current: Some(stored),
            } => {
                // Written by someone else while we held the lease (it lapsed during a slow
                // refresh). Their tokens are as new as ours; keep theirs.
                tracing::warn!(installation = %key, "the installation was written during our refresh (lease lapsed?); using the stored tokens");
                Ok(Refreshed::Done(self.cache(slot, &stored)))
            }
            CasOutcome::Conflict { current: None } => Err(Error::InstallationNotFound {
                installation: key.to_string(),
            }),
            _ => Err(Error::Internal("unknown compare-and-swap outcome".into())),
        }
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
