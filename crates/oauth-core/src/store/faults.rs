//! A [`TokenStore`] wrapper that injects faults (feature `faults`): for this workspace's tests of
//! the token manager, and for applications that want to see what their code does when the
//! database fails at the worst moment.
//!
//! A [`FaultyStore`] passes every call to the store it wraps, except the calls a [`StoreFault`]
//! picks: the N-th call of one operation (or the next few, or all), which then fails before
//! reaching the store, fails *after* the store applied it (a connection dropped after the commit),
//! waits, or hangs until a [`Gate`] opens. It also counts every call per operation and can tell an
//! observer about each call before it runs.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use std::sync::Arc;
//! use oauth_core::store::faults::{FaultAction, FaultyStore, StoreFault, StoreOp};
//! use oauth_core::{InstallationKey, MemoryTokenStore, ProviderId, TokenKey, TokenStore};
//!
//! let store = FaultyStore::new(Arc::new(MemoryTokenStore::new()));
//! // The second compare-and-swap from now fails as if the database had dropped the connection.
//! store.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).nth(2));
//! let key = TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"));
//! assert!(store.get(&key).await.unwrap().is_none());
//! assert_eq!(store.calls(StoreOp::Get), 1);
//! # });
//! ```
#![allow(clippy::module_name_repetitions)]

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

mod op;

pub use op::StoreOp;

use super::{CasOutcome, DueToken, Lease, Page, StoredTokenSet, TokenStore};
use crate::error::{Error, Result};
use crate::installation::{Grant, Installation, InstallationKey, TokenKey};
use crate::token::{ProviderId, TokenSet};

/// Opens once; calls blocked on it ([`FaultAction::Block`]) then go on to the store.
#[derive(Clone, Debug)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    /// A closed gate.
    pub fn new() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Opens the gate: every call waiting on it proceeds, and later ones do not wait.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn wait(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = open.wait_for(|open| *open).await;
    }
}

/// What a fault does to the call it picks.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FaultAction {
    /// Fails with [`Error::Storage`] without calling the store: nothing changes.
    Fail,
    /// Calls the store, then fails with [`Error::Storage`] although the call took effect, as when
    /// the connection drops after the database committed.
    FailAfterApplying,
    /// Waits this long, then calls the store.
    Delay(Duration),
    /// Waits until the gate opens, then calls the store.
    Block(Gate),
}

/// A fault: which calls of one operation it picks, and what it does to them.
#[derive(Clone, Debug)]
pub struct StoreFault {
    op: StoreOp,
    action: FaultAction,
    skip: u64,
    times: Option<u64>,
}

impl StoreFault {
    /// Picks the next call of `op` only.
    pub fn new(op: StoreOp, action: FaultAction) -> Self {
        Self {
            op,
            action,
            skip: 0,
            times: Some(1),
        }
    }

    /// Picks the `n`-th call of `op` counted from the injection (1 is the next one), letting the
    /// calls before it through.
    pub fn nth(mut self, n: u64) -> Self {
        self.skip = n.saturating_sub(1);
        self
    }

    /// Picks `count` consecutive calls (from the first picked one).
    pub fn times(mut self, count: u64) -> Self {
        self.times = Some(count);
        self
    }

    /// Picks every call from the first picked one on, until [`FaultyStore::clear`].
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }
}

type Observer = Arc<dyn Fn(StoreOp, Option<&str>) + Send + Sync>;

/// A [`TokenStore`] that passes calls to another one, with faults injected (see the module docs).
pub struct FaultyStore {
    inner: Arc<dyn TokenStore>,
    faults: Mutex<Vec<StoreFault>>,
    calls: [AtomicU64; StoreOp::ALL.len()],
    observer: Option<Observer>,
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner)
            .field("faults", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl FaultyStore {
    /// Wraps `inner`, with no fault yet.
    pub fn new(inner: Arc<dyn TokenStore>) -> Self {
        Self {
            inner,
            faults: Mutex::new(Vec::new()),
            calls: Default::default(),
            observer: None,
        }
    }

    /// Calls `observer` before every call, with the operation and the text form of the token
    /// set's or installation's key it is about (none for `list` and `delete_enterprise`). Keep it
    /// quick: it runs inline.
    pub fn observe(
        mut self,
        observer: impl Fn(StoreOp, Option<&str>) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn TokenStore> {
        &self.inner
    }

    /// Adds a fault. Faults on the same operation apply in the order they were added.
    pub fn inject(&self, fault: StoreFault) {
        self.lock().push(fault);
    }

    /// Removes every fault not yet used up (calls blocked on a gate stay blocked until it opens).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// How many calls of `op` were made (faulted ones included).
    pub fn calls(&self, op: StoreOp) -> u64 {
        self.calls[op.index()].load(Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<StoreFault>> {
        self.faults
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts the call, tells the observer, and returns the action for it, if a fault picks it.
    fn arm(&self, op: StoreOp, key: Option<&(dyn fmt::Display + Sync)>) -> Option<FaultAction> {
        self.calls[op.index()].fetch_add(1, Ordering::SeqCst);
        if let Some(observer) = &self.observer {
            let key = key.map(ToString::to_string);
            observer(op, key.as_deref());
        }
        let mut faults = self.lock();
        let index = faults.iter().position(|f| f.op == op)?;
        let fault = &mut faults[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        let action = fault.action.clone();
        match &mut fault.times {
            Some(1) => {
                faults.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(action)
    }

    async fn run<T>(
        &self,
        op: StoreOp,
        key: Option<&(dyn fmt::Display + Sync)>,
        call: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match self.arm(op, key) {
            None => call.await,
            Some(FaultAction::Fail) => Err(injected(op, "before reaching the store")),
            Some(FaultAction::FailAfterApplying) => {
                call.await?;
                Err(injected(op, "after the store applied the call"))
            }
            Some(FaultAction::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                call.await
            }
            Some(FaultAction::Block(gate)) => {
                gate.wait().await;
                call.await
            }
        }
    }
}

fn injected(op: StoreOp, when: &str) -> Error {
    Error::Storage {
        message: format!("injected fault: `{}` failed {when}", op.name()),
        source: None,
    }
}

#[async_trait]
impl TokenStore for FaultyStore {
    async fn get(&self, key: &TokenKey) -> Result<Option<StoredTokenSet>> {
        self.run(StoreOp::Get, Some(key), self.inner.get(key)).await
    }

    async fn save(&self, key: &TokenKey, tokens: &TokenSet) -> Result<u64> {
        self.run(StoreOp::Save, Some(key), self.inner.save(key, tokens))
            .await
    }

    async fn save_grant(&self, grant: &Grant) -> Result<Vec<(TokenKey, u64)>> {
        self.run(
            StoreOp::SaveGrant,
            Some(&grant.installation.key),
            self.inner.save_grant(grant),
        )
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &TokenKey,
        expected_version: u64,
        tokens: &TokenSet,
    ) -> Result<CasOutcome> {
        self.run(
            StoreOp::CompareAndSwap,
            Some(key),
            self.inner.compare_and_swap(key, expected_version, tokens),
        )
        .await
    }

    async fn mark_needs_reauthorization(
        &self,
        key: &TokenKey,
        expected_version: u64,
        reason: &str,
    ) -> Result<CasOutcome> {
        self.run(
            StoreOp::MarkNeedsReauthorization,
            Some(key),
            self.inner
                .mark_needs_reauthorization(key, expected_version, reason),
        )
        .await
    }

    async fn delete(&self, key: &TokenKey) -> Result<bool> {
        self.run(StoreOp::Delete, Some(key), self.inner.delete(key))
            .await
    }

    async fn list_page(
        &self,
        provider: Option<&ProviderId>,
        after: Option<&TokenKey>,
        limit: usize,
    ) -> Result<Page> {
        self.run(
            StoreOp::List,
            None,
            self.inner.list_page(provider, after, limit),
        )
        .await
    }

    async fn due_for_refresh(
        &self,
        before: SystemTime,
        after: Option<&DueToken>,
        limit: usize,
    ) -> Result<Vec<DueToken>> {
        self.run(
            StoreOp::DueForRefresh,
            None,
            self.inner.due_for_refresh(before, after, limit),
        )
        .await
    }

    async fn installation(&self, key: &InstallationKey) -> Result<Option<Installation>> {
        self.run(
            StoreOp::Installation,
            Some(key),
            self.inner.installation(key),
        )
        .await
    }

    async fn token_keys(&self, installation: &InstallationKey) -> Result<Vec<TokenKey>> {
        self.run(
            StoreOp::TokenKeys,
            Some(installation),
            self.inner.token_keys(installation),
        )
        .await
    }

    async fn delete_installation(&self, installation: &InstallationKey) -> Result<bool> {
        self.run(
            StoreOp::DeleteInstallation,
            Some(installation),
            self.inner.delete_installation(installation),
        )
        .await
    }

    async fn enterprise_installations(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        self.run(
            StoreOp::EnterpriseInstallations,
            None,
            self.inner.enterprise_installations(provider, enterprise_id),
        )
        .await
    }

    async fn delete_enterprise(
        &self,
        provider: &ProviderId,
        enterprise_id: &str,
    ) -> Result<Vec<InstallationKey>> {
        self.run(
            StoreOp::DeleteEnterprise,
            None,
            self.inner.delete_enterprise(provider, enterprise_id),
        )
        .await
    }

    async fn try_acquire_lease(
        &self,
        key: &TokenKey,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        self.run(
            StoreOp::TryAcquireLease,
            Some(key),
            self.inner.try_acquire_lease(key, holder, ttl),
        )
        .await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Option<Lease>> {
        self.run(
            StoreOp::RenewLease,
            Some(&lease.key),
            self.inner.renew_lease(lease, ttl),
        )
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.run(
            StoreOp::ReleaseLease,
            Some(&lease.key),
            self.inner.release_lease(lease),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::MemoryTokenStore;
    use crate::secret::AccessToken;
    use crate::token::TokenType;

    fn key() -> TokenKey {
        TokenKey::bot(InstallationKey::new(ProviderId::from_static("slack"), "T1"))
    }

    fn tokens(access: &str) -> TokenSet {
        TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new(access))
            .token_type(TokenType::Bot)
            .issued_at(std::time::SystemTime::UNIX_EPOCH)
            .build()
    }

    #[tokio::test]
    async fn the_nth_call_fails_and_the_others_pass() {
        let store = FaultyStore::new(Arc::new(MemoryTokenStore::new()));
        store.inject(StoreFault::new(StoreOp::Save, FaultAction::Fail).nth(2));
        assert!(store.save(&key(), &tokens("a")).await.is_ok());
        let error = store.save(&key(), &tokens("b")).await.unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Storage);
        assert!(error.to_string().contains("injected fault: `save`"));
        assert!(store.save(&key(), &tokens("c")).await.is_ok());
        let stored = store.get(&key()).await.unwrap().unwrap();
        assert_eq!(stored.tokens.access_token.expose_secret(), "c");
        assert_eq!(stored.version, 2, "the failed call changed nothing");
        assert_eq!(store.calls(StoreOp::Save), 3);
        assert_eq!(store.calls(StoreOp::Get), 1);
    }

    #[tokio::test]
    async fn a_fault_after_applying_changes_the_store_and_still_fails() {
        let store = FaultyStore::new(Arc::new(MemoryTokenStore::new()));
        store.save(&key(), &tokens("a")).await.unwrap();
        store.inject(StoreFault::new(
            StoreOp::CompareAndSwap,
            FaultAction::FailAfterApplying,
        ));
        assert!(
            store
                .compare_and_swap(&key(), 1, &tokens("b"))
                .await
                .is_err()
        );
        let stored = store.get(&key()).await.unwrap().unwrap();
        assert_eq!(stored.tokens.access_token.expose_secret(), "b");
        assert_eq!(stored.version, 2);
    }

    #[tokio::test]
    async fn times_and_always_and_clear() {
        let store = FaultyStore::new(Arc::new(MemoryTokenStore::new()));
        store.inject(StoreFault::new(StoreOp::Get, FaultAction::Fail).times(2));
        assert!(store.get(&key()).await.is_err());
        assert!(store.get(&key()).await.is_err());
        assert!(store.get(&key()).await.is_ok());
        store.inject(StoreFault::new(StoreOp::Get, FaultAction::Fail).always());
        for _ in 0..5 {
            assert!(store.get(&key()).await.is_err());
        }
        store.clear();
        assert!(store.get(&key()).await.is_ok());
    }

    #[tokio::test]
    async fn a_blocked_call_waits_for_its_gate_and_the_observer_sees_every_call() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let store = Arc::new(FaultyStore::new(Arc::new(MemoryTokenStore::new())).observe(
            move |op, key| {
                log.lock().unwrap().push((op, key.map(str::to_owned)));
            },
        ));
        let gate = Gate::new();
        store.inject(StoreFault::new(
            StoreOp::Save,
            FaultAction::Block(gate.clone()),
        ));
        let blocked = {
            let store = store.clone();
            tokio::spawn(async move { store.save(&key(), &tokens("a")).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!blocked.is_finished(), "the save waits for the gate");
        assert!(store.get(&key()).await.unwrap().is_none());
        gate.open();
        assert_eq!(blocked.await.unwrap().unwrap(), 1);
        assert!(store.get(&key()).await.unwrap().is_some());
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (StoreOp::Save, Some("slack/T1#bot".to_owned())),
                (StoreOp::Get, Some("slack/T1#bot".to_owned())),
                (StoreOp::Get, Some("slack/T1#bot".to_owned())),
            ]
        );
    }
}
