//! The background refresher: over a fleet provider that counts every grant per installation and
//! refuses a spent refresh token (single use, no grace period), it refreshes each due token set
//! exactly once even with two managers (two replicas) sharing one store, never runs more refreshes
//! at once than allowed, stops cleanly, and keeps the lifecycle's invariants while the store fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::store::faults::{FaultAction, FaultyStore, StoreFault, StoreOp};
use oauth_core::{
    AccessToken, AuthorizationRequest, Clock, CodeExchange, Error, ErrorKind, GenericProviderError,
    Grant, InstallationKey, Introspect, ManualClock, MemoryTokenStore, ProviderId, RefreshToken,
    Result, Revoke, TokenGrant, TokenInfo, TokenKey, TokenProvider, TokenSet, TokenStore,
    TokenType,
};
use oauth_manager::{ManagerConfig, RefresherConfig, TokenManager};

const PROVIDER: ProviderId = ProviderId::from_static("fleet");
const LIFETIME: u64 = 3600;
const MARGIN: Duration = Duration::from_secs(300);

/// A provider of many installations. Refresh token `rt-<installation>-<n>` is valid until used.
#[derive(Debug)]
struct Fleet {
    clock: Arc<ManualClock>,
    delay: Duration,
    valid: Mutex<HashMap<String, u32>>,
    grants: Mutex<HashMap<String, u32>>,
    refusals: AtomicU32,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    rate_limited: AtomicU32,
}

impl Fleet {
    fn new(clock: Arc<ManualClock>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock,
            delay,
            valid: Mutex::default(),
            grants: Mutex::default(),
            refusals: AtomicU32::new(0),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            rate_limited: AtomicU32::new(0),
        })
    }

    fn tokens(&self, installation: &str, n: u32) -> TokenSet {
        let mut tokens =
            TokenSet::builder(PROVIDER, AccessToken::new(format!("at-{installation}-{n}")))
                .token_type(TokenType::Bot)
                .issued_at(self.clock.now())
                .build();
        tokens.refresh_token = Some(RefreshToken::new(format!("rt-{installation}-{n}")));
        tokens.set_expires_in(LIFETIME as i64);
        tokens
    }

    /// Mints generation 0 of `installation` (as an install would).
    fn install(&self, installation: &str) -> TokenSet {
        self.valid
            .lock()
            .unwrap()
            .insert(installation.to_owned(), 0);
        self.tokens(installation, 0)
    }

    fn total_grants(&self) -> u32 {
        self.grants.lock().unwrap().values().sum()
    }

    fn grants_of(&self, installation: &str) -> u32 {
        self.grants
            .lock()
            .unwrap()
            .get(installation)
            .copied()
            .unwrap_or(0)
    }

    /// The refresh token the provider accepts now for `installation`.
    fn valid_refresh(&self, installation: &str) -> String {
        let n = self.valid.lock().unwrap()[installation];
        format!("rt-{installation}-{n}")
    }
}

#[async_trait]
impl TokenGrant for Fleet {
    async fn exchange_code(&self, _exchange: CodeExchange) -> Result<Grant> {
        Err(Error::InvalidRequest("not needed".into()))
    }

    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        if self.rate_limited.load(Ordering::SeqCst) > 0 {
            self.rate_limited.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::provider(
                GenericProviderError::new(PROVIDER, "ratelimited", ErrorKind::RateLimited)
                    .with_retry_after(Duration::from_secs(2)),
            ));
        }
        let (installation, n) = refresh_token
            .expose_secret()
            .strip_prefix("rt-")
            .and_then(|rest| rest.rsplit_once('-'))
            .map(|(i, n)| (i.to_owned(), n.parse::<u32>().unwrap()))
            .unwrap();
        {
            let mut valid = self.valid.lock().unwrap();
            if valid.get(&installation) != Some(&n) {
                self.refusals.fetch_add(1, Ordering::SeqCst);
                return Err(Error::provider(GenericProviderError::new(
                    PROVIDER,
                    "invalid_refresh_token",
                    ErrorKind::ReauthorizationRequired,
                )));
            }
            valid.insert(installation.clone(), n + 1);
        }
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        *self
            .grants
            .lock()
            .unwrap()
            .entry(installation.clone())
            .or_default() += 1;
        Ok(self.tokens(&installation, n + 1))
    }
}

#[async_trait]
impl Introspect for Fleet {
    async fn introspect(&self, _token: &AccessToken) -> Result<TokenInfo> {
        Ok(TokenInfo::active())
    }
}

#[async_trait]
impl Revoke for Fleet {
    async fn revoke(&self, _token: &AccessToken) -> Result<()> {
        Ok(())
    }
}

impl TokenProvider for Fleet {
    fn provider_id(&self) -> ProviderId {
        PROVIDER
    }
    fn authorization_url(&self, _request: &AuthorizationRequest) -> Result<url::Url> {
        Err(Error::InvalidRequest("not needed".into()))
    }
}

fn name(i: usize) -> String {
    format!("T{i:04}")
}

fn key(i: usize) -> TokenKey {
    TokenKey::bot(InstallationKey::new(PROVIDER, name(i)))
}

struct Setup {
    clock: Arc<ManualClock>,
    fleet: Arc<Fleet>,
}

/// `n` installations whose tokens were all issued at once, the clock moved to one second before
/// their refresh margin begins.
async fn fleet(store: &Arc<dyn TokenStore>, n: usize, delay: Duration) -> Setup {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let clock = Arc::new(ManualClock::new(start));
    let fleet = Fleet::new(clock.clone(), delay);
    for i in 0..n {
        store.save(&key(i), &fleet.install(&name(i))).await.unwrap();
    }
    clock.set(start + Duration::from_secs(LIFETIME) - MARGIN - Duration::from_secs(1));
    Setup { clock, fleet }
}

fn manager(setup: &Setup, store: &Arc<dyn TokenStore>, holder: &str) -> TokenManager {
    TokenManager::builder(setup.fleet.clone(), store.clone())
        .clock(setup.clock.clone())
        .config(
            ManagerConfig::default()
                .refresh_margin(MARGIN)
                .lease_ttl(Duration::from_secs(5))
                .poll_interval(Duration::from_millis(5)),
        )
        .holder_id(holder)
        .build()
        .unwrap()
}

/// Refreshes spread over one second (the window left before the margin), polled every 20 ms.
fn refresher_config(concurrency: usize) -> RefresherConfig {
    RefresherConfig::default()
        .lead(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(20))
        .concurrency(concurrency)
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refresh_each_due_token_set_once_within_the_concurrency_bound() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let n = 200;
    let setup = fleet(&store, n, Duration::from_millis(5)).await;
    let a = manager(&setup, &store, "replica-a");
    let b = manager(&setup, &store, "replica-b");
    let on_a = a.start_refresher(refresher_config(4)).unwrap();
    let on_b = b.start_refresher(refresher_config(4)).unwrap();
    until("every installation refreshed", || {
        setup.fleet.total_grants() as usize >= n
    })
    .await;
    // Several more polls: nothing is refreshed again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    on_a.shutdown().await;
    on_b.shutdown().await;
    for i in 0..n {
        assert_eq!(
            setup.fleet.grants_of(&name(i)),
            1,
            "{}: refreshed once",
            name(i)
        );
        let stored = store.get(&key(i)).await.unwrap().unwrap();
        assert_eq!(
            stored.tokens.refresh_token.unwrap().expose_secret(),
            setup.fleet.valid_refresh(&name(i)),
            "{}: the store holds the refresh token the provider accepts",
            name(i)
        );
    }
    assert_eq!(
        setup.fleet.refusals.load(Ordering::SeqCst),
        0,
        "no refresh token spent twice"
    );
    let peak = setup.fleet.peak.load(Ordering::SeqCst);
    assert!(peak <= 8, "at most 4 refreshes at once per replica: {peak}");
    // Callers now get the refreshed tokens without waiting for anything.
    let token = a.access_token(&key(0)).await.unwrap();
    assert_eq!(token.expose_secret(), format!("at-{}-1", name(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_sets_not_due_are_left_alone() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let setup = fleet(&store, 20, Duration::ZERO).await;
    // An hour before the window: nothing is due.
    setup
        .clock
        .set(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60));
    let manager = manager(&setup, &store, "replica-a");
    let refresher = manager.start_refresher(refresher_config(4)).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(setup.fleet.total_grants(), 0);
    assert_eq!(refresher.scheduled(), 0);
    refresher.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_promptly_and_stops_every_refresh_not_started() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let setup = fleet(&store, 50, Duration::ZERO).await;
    // An hour-long window: the refreshes are scheduled far apart, most far ahead.
    setup.clock.set(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + LIFETIME)
            - MARGIN
            - Duration::from_secs(3599),
    );
    let manager = manager(&setup, &store, "replica-a");
    let refresher = manager
        .start_refresher(
            RefresherConfig::default()
                .lead(Duration::from_secs(3600))
                .poll_interval(Duration::from_millis(20)),
        )
        .unwrap();
    until("the fleet scheduled", || refresher.scheduled() >= 50).await;
    tokio::time::timeout(Duration::from_secs(5), refresher.shutdown())
        .await
        .expect("shutdown does not wait for the scheduled refreshes");
    let after_shutdown = setup.fleet.total_grants();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        setup.fleet.total_grants(),
        after_shutdown,
        "nothing after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_manager_stops_its_refresher() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let setup = fleet(&store, 10, Duration::ZERO).await;
    setup
        .clock
        .set(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + 60));
    let manager = manager(&setup, &store, "replica-a");
    let refresher = manager.start_refresher(refresher_config(2)).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(manager);
    // The refresher holds no strong reference: the manager (and its provider) is gone at once.
    until("the manager freed", || Arc::strong_count(&setup.fleet) == 1).await;
    // Its tokens come due: nobody refreshes them.
    setup.clock.set(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + LIFETIME)
            - MARGIN
            - Duration::from_secs(1),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(setup.fleet.total_grants(), 0);
    tokio::time::timeout(Duration::from_secs(5), refresher.shutdown())
        .await
        .expect("a stopped refresher's shutdown returns at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_back_the_whole_refresher() {
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let n = 30;
    let setup = fleet(&store, n, Duration::ZERO).await;
    setup.fleet.rate_limited.store(1, Ordering::SeqCst);
    let manager = manager(&setup, &store, "replica-a");
    let refresher = manager.start_refresher(refresher_config(1)).unwrap();
    until("the rate limit met", || {
        setup.fleet.rate_limited.load(Ordering::SeqCst) == 0
    })
    .await;
    // The provider asked for 2 s (on the manager's clock, which stands still here): the
    // refresher sends nothing more until that clock passes it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = setup.fleet.total_grants();
    assert!(
        during <= 1,
        "at most the refresh already past its permit: {during}"
    );
    setup.clock.advance(Duration::from_secs(3));
    // (Three seconds later the window before the margin has passed: the rest are refreshed at
    // once, still at most one at a time.)
    until("every installation refreshed after the pause", || {
        setup.fleet.total_grants() as usize >= n
    })
    .await;
    refresher.shutdown().await;
    assert_eq!(setup.fleet.refusals.load(Ordering::SeqCst), 0);
    assert!(setup.fleet.peak.load(Ordering::SeqCst) <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_store_faults_no_token_is_lost_or_spent_twice() {
    let faulty = Arc::new(FaultyStore::new(Arc::new(MemoryTokenStore::new())));
    let store: Arc<dyn TokenStore> = faulty.clone();
    let n = 60;
    let setup = fleet(&store, n, Duration::from_millis(2)).await;
    // The poll fails now and then, some writes of rotated tokens fail (they are served from
    // memory and written again), some lease calls and reads fail.
    faulty.inject(StoreFault::new(StoreOp::DueForRefresh, FaultAction::Fail).times(2));
    faulty.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).times(5));
    faulty.inject(
        StoreFault::new(StoreOp::CompareAndSwap, FaultAction::FailAfterApplying)
            .nth(3)
            .times(2),
    );
    faulty.inject(StoreFault::new(StoreOp::TryAcquireLease, FaultAction::Fail).times(3));
    faulty.inject(
        StoreFault::new(StoreOp::Get, FaultAction::Fail)
            .nth(7)
            .times(3),
    );
    let a = manager(&setup, &store, "replica-a");
    let b = manager(&setup, &store, "replica-b");
    let on_a = a.start_refresher(refresher_config(3)).unwrap();
    let on_b = b.start_refresher(refresher_config(3)).unwrap();
    until("every installation refreshed", || {
        (0..n).all(|i| setup.fleet.grants_of(&name(i)) >= 1)
    })
    .await;
    on_a.shutdown().await;
    on_b.shutdown().await;
    a.flush().await;
    b.flush().await;
    assert_eq!(
        setup.fleet.refusals.load(Ordering::SeqCst),
        0,
        "no refresh token spent twice"
    );
    for i in 0..n {
        let stored = faulty.get(&key(i)).await.unwrap().unwrap();
        assert!(
            stored.needs_reauthorization.is_none(),
            "{}: not locked out",
            name(i)
        );
        assert_eq!(
            stored.tokens.refresh_token.unwrap().expose_secret(),
            setup.fleet.valid_refresh(&name(i)),
            "{}: the rotated refresh token is the one stored",
            name(i)
        );
    }
}

#[test]
fn unusable_configurations_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
        let setup = fleet(&store, 0, Duration::ZERO).await;
        let manager = manager(&setup, &store, "replica-a");
        for config in [
            RefresherConfig::default().concurrency(0),
            RefresherConfig::default().max_scheduled(0),
            RefresherConfig::default().poll_interval(Duration::ZERO),
            RefresherConfig::default()
                .lead(Duration::from_secs(10))
                .poll_interval(Duration::from_secs(10)),
        ] {
            let error = manager.start_refresher(config).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Configuration, "{error}");
        }
    });
}
