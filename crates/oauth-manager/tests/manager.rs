//! TokenManager behaviour over a counting fake provider and the in-memory store. The same flows
//! against oauth-sandbox (real HTTP, the sandbox's refresh counter as the judge) are in
//! `sandbox.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, Clock, CodeExchange, Error, ErrorKind,
    GenericProviderError, Grantee, InstallationKey, Introspect, ManualClock, MemoryTokenStore,
    ProviderId, RefreshToken, Result, Revoke, TokenGrant, TokenInfo, TokenProvider, TokenSet,
    TokenStore, TokenType,
};
use oauth_manager::{EventHook, ManagerConfig, TokenEvent, TokenManager};

const PROVIDER: ProviderId = ProviderId::from_static("fake");

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Ok,
    Transient,
    Lost,
    Reauth,
    NoRefreshToken,
}

#[derive(Debug)]
struct Fake {
    clock: Arc<ManualClock>,
    refreshes: AtomicU32,
    revokes: AtomicU32,
    delay: Duration,
    mode: Mutex<Mode>,
    revoke_error: Mutex<Option<ErrorKind>>,
}

impl Fake {
    fn new(clock: Arc<ManualClock>, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            clock,
            refreshes: AtomicU32::new(0),
            revokes: AtomicU32::new(0),
            delay,
            mode: Mutex::new(Mode::Ok),
            revoke_error: Mutex::new(None),
        })
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn refreshes(&self) -> u32 {
        self.refreshes.load(Ordering::SeqCst)
    }

    fn tokens(&self, n: u32) -> TokenSet {
        let mut tokens = TokenSet::new(
            PROVIDER,
            AccessToken::new(format!("at-{n}")),
            TokenType::Bot,
            self.clock.now(),
        );
        tokens.refresh_token = Some(RefreshToken::new(format!("rt-{n}")));
        tokens.set_expires_in(3600);
        tokens
    }
}

fn error(kind: ErrorKind, code: &str) -> Error {
    Error::provider(GenericProviderError::new(PROVIDER, code, kind))
}

#[async_trait]
impl TokenGrant for Fake {
    async fn exchange_code(&self, _exchange: CodeExchange) -> Result<TokenSet> {
        let mut tokens = self.tokens(0);
        let mut grantee = Grantee::new();
        grantee.workspace_id = Some("T1".into());
        grantee.bot_id = Some("U1".into());
        tokens.grantee = grantee;
        Ok(tokens)
    }

    async fn refresh(&self, _refresh_token: &RefreshToken) -> Result<TokenSet> {
        let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(self.delay).await;
        match *self.mode.lock().unwrap() {
            Mode::Ok => Ok(self.tokens(n)),
            Mode::NoRefreshToken => {
                let mut tokens = self.tokens(n);
                tokens.refresh_token = None;
                Ok(tokens)
            }
            Mode::Transient => Err(error(ErrorKind::Retryable, "internal_error")),
            Mode::Lost => Err(Error::Timeout {
                provider: PROVIDER,
                operation: "refresh",
                request_sent: oauth_core::RequestSent::Maybe,
            }),
            Mode::Reauth => Err(error(
                ErrorKind::ReauthorizationRequired,
                "invalid_refresh_token",
            )),
        }
    }
}

#[async_trait]
impl Introspect for Fake {
    async fn introspect(&self, _token: &AccessToken) -> Result<TokenInfo> {
        Ok(TokenInfo::active())
    }
}

#[async_trait]
impl Revoke for Fake {
    async fn revoke(&self, _token: &AccessToken) -> Result<()> {
        self.revokes.fetch_add(1, Ordering::SeqCst);
        match *self.revoke_error.lock().unwrap() {
            Some(kind) => Err(error(kind, "x")),
            None => Ok(()),
        }
    }
}

impl TokenProvider for Fake {
    fn provider_id(&self) -> ProviderId {
        PROVIDER
    }
    fn authorization_url(&self, _request: &AuthorizationRequest) -> Result<url::Url> {
        Err(Error::InvalidRequest("not needed".into()))
    }
}

struct Setup {
    clock: Arc<ManualClock>,
    fake: Arc<Fake>,
    store: Arc<MemoryTokenStore>,
    manager: TokenManager,
    key: InstallationKey,
    events: Arc<Mutex<Vec<TokenEvent>>>,
}

fn config() -> ManagerConfig {
    ManagerConfig::default()
        .refresh_margin(Duration::from_secs(300))
        .lease_ttl(Duration::from_millis(500))
        .poll_interval(Duration::from_millis(5))
}

fn manager_for(
    fake: &Arc<Fake>,
    store: &Arc<MemoryTokenStore>,
    clock: &Arc<ManualClock>,
    holder: &str,
    events: &Arc<Mutex<Vec<TokenEvent>>>,
) -> TokenManager {
    let sink = events.clone();
    TokenManager::builder(fake.clone(), store.clone())
        .clock(clock.clone())
        .config(config())
        .holder_id(holder)
        .on_event(EventHook::new(move |e| {
            sink.lock().unwrap().push(e.clone())
        }))
        .build()
        .unwrap()
}

async fn setup(delay: Duration) -> Setup {
    let clock = Arc::new(ManualClock::new(
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    ));
    let fake = Fake::new(clock.clone(), delay);
    // Leases expire on real time in the memory store: keep it on the system clock.
    let store = Arc::new(MemoryTokenStore::new());
    let events = Arc::default();
    let manager = manager_for(&fake, &store, &clock, "holder-1", &events);
    let (key, _) = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new("c")))
        .await
        .unwrap();
    Setup {
        clock,
        fake,
        store,
        manager,
        key,
        events,
    }
}

impl Setup {
    fn expire_soon(&self) {
        // 3600 s tokens, 300 s margin: 3400 s later the token is within the margin but valid.
        self.clock.advance(Duration::from_secs(3400));
    }
    fn expire(&self) {
        self.clock.advance(Duration::from_secs(3700));
    }
    fn events(&self) -> Vec<TokenEvent> {
        self.events.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn a_fresh_token_is_served_from_cache_without_refreshing() {
    let s = setup(Duration::ZERO).await;
    assert_eq!(s.key.to_string(), "fake/T1:U1");
    for _ in 0..100 {
        assert_eq!(
            s.manager
                .access_token(&s.key)
                .await
                .unwrap()
                .expose_secret(),
            "at-0"
        );
    }
    assert_eq!(s.fake.refreshes(), 0);
    // A new manager (another process) loads it from the store.
    let other = manager_for(&s.fake, &s.store, &s.clock, "holder-2", &s.events);
    assert_eq!(
        other.access_token(&s.key).await.unwrap().expose_secret(),
        "at-0"
    );
    assert_eq!(s.fake.refreshes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_callers_share_one_refresh() {
    let s = setup(Duration::from_millis(50)).await;
    s.expire();
    let mut tasks = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let manager = s.manager.clone();
        let key = s.key.clone();
        tasks.push(tokio::spawn(
            async move { manager.access_token(&key).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    assert_eq!(s.fake.refreshes(), 1, "exactly one refresh");
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.refresh_token.unwrap().expose_secret(),
        "rt-1",
        "the rotated refresh token is stored"
    );
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::Refreshed { .. }]
    ));
}

#[tokio::test]
async fn refresh_happens_within_the_margin_before_expiry() {
    let s = setup(Duration::ZERO).await;
    s.clock.advance(Duration::from_secs(3200));
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0",
        "outside the margin"
    );
    s.clock.advance(Duration::from_secs(200));
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0",
        "within the margin the valid token is served at once; the refresh runs in the background"
    );
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1",
        "proactive refresh"
    );
    let tokens = s.manager.token_set(&s.key).await.unwrap();
    assert_eq!(
        tokens.grantee.workspace_id.as_deref(),
        Some("T1"),
        "the grantee survives a refresh that omits it"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test]
async fn transient_failure_serves_the_old_token_then_retries_later() {
    let s = setup(Duration::ZERO).await;
    s.expire_soon();
    s.fake.set_mode(Mode::Transient);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    assert_eq!(
        s.fake.refreshes(),
        1,
        "no second attempt before the backoff"
    );
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::RefreshFailed {
            served_old_token: true,
            kind: ErrorKind::Retryable,
            ..
        }]
    ));
    s.fake.set_mode(Mode::Ok);
    s.clock.advance(Duration::from_secs(31));
    s.manager.access_token(&s.key).await.unwrap();
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2"
    );
    assert_eq!(s.fake.refreshes(), 2);
}

#[tokio::test]
async fn lost_response_is_retried_quickly() {
    let s = setup(Duration::ZERO).await;
    s.expire_soon();
    s.fake.set_mode(Mode::Lost);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
    s.manager.flush().await;
    s.fake.set_mode(Mode::Ok);
    s.clock.advance(Duration::from_secs(2));
    s.manager.access_token(&s.key).await.unwrap();
    s.manager.flush().await;
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2",
        "retried after 1 s, not 30 s"
    );
}

#[tokio::test]
async fn transient_failure_with_an_expired_token_is_an_error() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::Transient);
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Retryable);
    assert!(matches!(
        s.events().as_slice(),
        [TokenEvent::RefreshFailed {
            served_old_token: false,
            ..
        }]
    ));
    s.fake.set_mode(Mode::Ok);
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-2",
        "the next caller tries again at once"
    );
}

#[tokio::test]
async fn refused_grant_marks_the_installation() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::Reauth);
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert!(error.needs_reauthorization());
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.needs_reauthorization.as_deref(),
        Some("invalid_refresh_token")
    );
    assert!(
        matches!(s.events().as_slice(), [TokenEvent::ReauthorizationRequired { reason, .. }] if reason == "invalid_refresh_token")
    );
    // Later callers get the typed error without calling the provider.
    let error = s.manager.access_token(&s.key).await.unwrap_err();
    assert!(
        matches!(error, Error::NeedsReauthorization { ref reason, .. } if reason == "invalid_refresh_token"),
        "{error}"
    );
    assert_eq!(s.fake.refreshes(), 1);
    // A new install clears it.
    s.manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new("again")))
        .await
        .unwrap();
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-0"
    );
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    s.fake.set_mode(Mode::NoRefreshToken);
    s.manager.access_token(&s.key).await.unwrap();
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(stored.tokens.refresh_token.unwrap().expose_secret(), "rt-0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refresh_once_and_the_other_picks_it_up() {
    let s = setup(Duration::from_millis(100)).await;
    let other = manager_for(&s.fake, &s.store, &s.clock, "holder-2", &s.events);
    other.access_token(&s.key).await.unwrap();
    s.expire();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let manager = if i % 2 == 0 {
            s.manager.clone()
        } else {
            other.clone()
        };
        let key = s.key.clone();
        tasks.push(tokio::spawn(
            async move { manager.access_token(&key).await },
        ));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().expose_secret(), "at-1");
    }
    assert_eq!(
        s.fake.refreshes(),
        1,
        "the lease elects one refresher across managers"
    );
    let events = s.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TokenEvent::PickedUp { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_dead_holders_lease_lapses_and_another_refreshes() {
    let s = setup(Duration::ZERO).await;
    s.expire();
    let dead = s
        .store
        .try_acquire_lease(&s.key, "dead-process", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for the lease to lapse"
    );
    assert_eq!(s.fake.refreshes(), 1);
    drop(dead);
}

#[tokio::test]
async fn a_cancelled_caller_does_not_abandon_the_refresh() {
    let s = setup(Duration::from_millis(200)).await;
    s.expire();
    let call = s.manager.access_token(&s.key);
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err(),
        "the caller gave up"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = s.store.get(&s.key).await.unwrap().unwrap();
    assert_eq!(
        stored.tokens.access_token.expose_secret(),
        "at-1",
        "the refresh finished and was written anyway"
    );
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
    assert_eq!(s.fake.refreshes(), 1);
}

#[tokio::test]
async fn unknown_and_foreign_installations() {
    let s = setup(Duration::ZERO).await;
    let missing = InstallationKey::new(PROVIDER, "nobody");
    assert_eq!(
        s.manager.access_token(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let foreign = InstallationKey::new(ProviderId::from_static("notion"), "T1:U1");
    assert_eq!(
        s.manager.access_token(&foreign).await.unwrap_err().kind(),
        ErrorKind::Configuration
    );
    assert_eq!(s.manager.list().await.unwrap(), vec![s.key.clone()]);
}

#[tokio::test]
async fn revoke_and_delete() {
    let s = setup(Duration::ZERO).await;
    *s.fake.revoke_error.lock().unwrap() = Some(ErrorKind::Transport);
    assert_eq!(
        s.manager
            .revoke_and_delete(&s.key)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Transport
    );
    assert!(
        s.store.get(&s.key).await.unwrap().is_some(),
        "a live token is not forgotten"
    );
    *s.fake.revoke_error.lock().unwrap() = Some(ErrorKind::ReauthorizationRequired);
    s.manager.revoke_and_delete(&s.key).await.unwrap();
    assert!(
        s.store.get(&s.key).await.unwrap().is_none(),
        "an already-invalid token is deleted"
    );
    assert_eq!(
        s.manager.access_token(&s.key).await.unwrap_err().kind(),
        ErrorKind::NotFound,
        "and not served from cache"
    );
    assert_eq!(s.fake.revokes.load(Ordering::SeqCst), 2);
    s.manager.revoke_and_delete(&s.key).await.unwrap();
}

#[tokio::test]
async fn force_refresh() {
    let s = setup(Duration::ZERO).await;
    let tokens = s.manager.force_refresh(&s.key).await.unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "at-1");
    assert_eq!(
        s.manager
            .access_token(&s.key)
            .await
            .unwrap()
            .expose_secret(),
        "at-1"
    );
}

#[tokio::test]
async fn the_store_passes_the_conformance_suite() {
    oauth_core::store::conformance::check_store(Arc::new(MemoryTokenStore::new())).await;
}
