//! The lifecycle's invariants (docs/ARCHITECTURE.md) against oauth-sandbox over loopback HTTP and
//! real databases, with the providers at their least forgiving: a Slack app whose spent refresh
//! token has no grace period, and Notion (none either). The sandbox's counters judge: a refresh
//! token presented twice is refused there, which marks the installation — a lockout.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use oauth_core::http::{
    HttpClient, HttpRequest, HttpResponse, HttpTransport, ReqwestTransport, RetryPolicy,
};
use oauth_core::store::faults::{FaultAction, FaultyStore, StoreFault, StoreOp};
use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, ErrorKind, Introspect as _, ManualClock,
    TokenGrant as _, TokenKey, TokenProvider, TokenStore, TransportError,
};
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_notion::NotionClient;
use oauth_sandbox::{
    App, DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_REDIRECT_URIS,
    Fault, FaultKind, Sandbox, SandboxHandle,
};

/// A Slack app with token rotation and no grace period for a spent refresh token.
const STRICT_ID: &str = "3141592653.589793238462";
const STRICT_SECRET: &str = "strict-slack-app-secret";
const SLACK_REFRESH: &str = "slack.oauth.v2.access.refresh_token";
const NOTION_REFRESH: &str = "notion.token.refresh_token";

async fn sandbox() -> SandboxHandle {
    sandbox_with_ttl(None).await
}

/// The sandbox with the strict app minting access tokens that live `ttl_secs` (Slack's 12 hours
/// by default): short lives make refreshes due in real time (halfway through a life).
async fn sandbox_with_ttl(ttl_secs: Option<u64>) -> SandboxHandle {
    let mut strict = App::slack(
        STRICT_ID,
        STRICT_SECRET,
        "A0STRICT01",
        DEFAULT_SLACK_REDIRECT_URIS,
    )
    .with_rotation(true)
    .with_refresh_grace_secs(0);
    if let Some(ttl) = ttl_secs {
        strict = strict.with_access_token_ttl_secs(ttl);
    }
    Sandbox::builder().app(strict).start().await.unwrap()
}

fn strict_slack(sandbox: &SandboxHandle) -> Arc<dyn TokenProvider> {
    oauth_itest::slack_app_client(sandbox.base_url(), STRICT_ID, STRICT_SECRET).unwrap()
}

/// A transport that does not say how long an attempt can take (as a user's own client wrapped
/// by hand might): the manager cannot check its lease against it and must renew it instead.
#[derive(Debug)]
struct Unbounded(ReqwestTransport);

#[async_trait]
impl HttpTransport for Unbounded {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.0.send(request).await
    }
}

fn strict_slack_unbounded(sandbox: &SandboxHandle) -> Arc<dyn TokenProvider> {
    let transport = ReqwestTransport::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let http = HttpClient::new(Arc::new(Unbounded(transport)), RetryPolicy::never());
    let base = sandbox.base_url().trim_end_matches('/');
    Arc::new(
        oauth_slack::SlackClient::builder(STRICT_ID)
            .client_secret(STRICT_SECRET)
            .redirect_uri(DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .http_client(http)
            .build()
            .unwrap(),
    )
}

fn notion(sandbox: &SandboxHandle) -> Arc<dyn TokenProvider> {
    Arc::new(
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
            .base_url(sandbox.base_url())
            .redirect_uri("http://127.0.0.1/callback/notion")
            .http_client(oauth_itest::http_client().unwrap())
            .build()
            .unwrap(),
    )
}

async fn install(
    sandbox: &SandboxHandle,
    provider: &Arc<dyn TokenProvider>,
    store: &Arc<dyn TokenStore>,
) -> TokenKey {
    let mut request = AuthorizationRequest::new().unwrap();
    if provider.provider_id().as_str() == "slack" {
        request = request.scopes(oauth_core::Scopes::parse("chat:write"));
    }
    let url = provider.authorization_url(&request).unwrap();
    let code = sandbox
        .control()
        .authorize(&format!("{}?{}", url.path(), url.query().unwrap()))
        .unwrap()
        .code
        .unwrap();
    let grant = provider
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    store.save_grant(&grant).await.unwrap();
    grant.token_key(grant.primary().unwrap().principal.clone())
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn TokenStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = oauth_store::SqliteTokenStore::open(dir.path().join("tokens.sqlite3"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

fn grants(sandbox: &SandboxHandle, client_id: &str, op: &str) -> (u64, u64) {
    let counters = sandbox.control().counters();
    let total = counters.app_op(client_id, op);
    let succeeded = counters
        .per_app
        .get(client_id)
        .and_then(|ops| ops.get(op))
        .map_or(0, |c| c.succeeded);
    (total, succeeded)
}

async fn assert_usable(
    store: &Arc<dyn TokenStore>,
    key: &TokenKey,
    provider: &Arc<dyn TokenProvider>,
) {
    let stored = store.get(key).await.unwrap().unwrap();
    assert!(
        stored.needs_reauthorization.is_none(),
        "locked out: {:?}",
        stored.needs_reauthorization
    );
    assert!(
        provider
            .introspect(&stored.tokens.access_token)
            .await
            .unwrap()
            .active,
        "the stored access token works"
    );
}

/// Scenario 1 (I2): one refresh takes 2.5 s, the lease lasts 1 s, the client's bound is unknown.
/// The holder renews its lease while the call runs, so the second replica never spends the same
/// refresh token (which, without a grace period, would lock the installation out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_outlives_its_lease_is_not_repeated_by_another_replica() {
    // Tokens that live 8 s: due after 4 s, still valid during the 2.5 s refresh.
    let sandbox = sandbox_with_ttl(Some(8)).await;
    let slack = strict_slack_unbounded(&sandbox);
    let (_dir, store) = sqlite().await;
    let key = install(&sandbox, &slack, &store).await;
    let config = ManagerConfig::default()
        .lease_ttl(Duration::from_secs(1))
        .recheck_interval(Duration::from_millis(100))
        .poll_interval(Duration::from_millis(20));
    let replica = |holder: &str| {
        TokenManager::builder(slack.clone(), store.clone())
            .config(config.clone())
            .holder_id(holder)
            .build()
            .unwrap()
    };
    let (a, b) = (replica("replica-a"), replica("replica-b"));
    let old = a.access_token(&key).await.unwrap();
    assert_eq!(b.access_token(&key).await.unwrap(), old);
    sandbox.control().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::Delay { millis: 2_500 },
    ));
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    // Replica a starts the refresh (in the background); replica b keeps asking for 3 s, its own
    // refresh attempts finding the lease held.
    assert_eq!(a.access_token(&key).await.unwrap(), old);
    let started = tokio::time::Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        b.access_token(&key).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.flush().await;
    b.flush().await;
    let (total, succeeded) = grants(&sandbox, STRICT_ID, SLACK_REFRESH);
    assert_eq!(
        (total, succeeded),
        (1, 1),
        "one refresh grant, none refused"
    );
    assert_usable(&store, &key, &slack).await;
    let new = store.get(&key).await.unwrap().unwrap().tokens.access_token;
    assert_ne!(new, old);
    // Whichever replica took the lease first refreshed; the other served its still-valid token
    // and picks the new one up at its next look at the store (after the recheck interval).
    tokio::time::sleep(Duration::from_millis(150)).await;
    for (replica, name) in [(&a, "a"), (&b, "b")] {
        replica.access_token(&key).await.unwrap();
        replica.flush().await;
        assert_eq!(
            replica.access_token(&key).await.unwrap(),
            new,
            "{name} has the new token"
        );
    }
    sandbox.shutdown().await;
}

/// Scenario 1, the other half (I2): with a client whose worst case is known, a lease shorter than
/// it is refused when the manager is built, and the defaults pass.
#[tokio::test]
async fn a_lease_shorter_than_the_clients_slowest_refresh_is_refused_at_build() {
    let sandbox = sandbox().await;
    let default_slack: Arc<dyn TokenProvider> = Arc::new(
        oauth_slack::SlackClient::builder(STRICT_ID)
            .client_secret(STRICT_SECRET)
            .base_url(format!("{}/api/", sandbox.base_url().trim_end_matches('/')))
            .build()
            .unwrap(),
    );
    let default_notion: Arc<dyn TokenProvider> = Arc::new(
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
            .base_url(sandbox.base_url())
            .build()
            .unwrap(),
    );
    let (_dir, store) = sqlite().await;
    for provider in [default_slack, default_notion] {
        assert_eq!(
            provider.refresh_time_bound(),
            Some(Duration::from_secs(120)),
            "3 attempts x 30 s + 30 s of retry waits"
        );
        assert!(
            TokenManager::builder(provider.clone(), store.clone())
                .build()
                .is_ok(),
            "the defaults keep the lease (150 s) above the client's bound"
        );
        let error = TokenManager::builder(provider.clone(), store.clone())
            .config(ManagerConfig::default().lease_ttl(Duration::from_secs(30)))
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration);
        let message = error.to_string();
        assert!(
            message.contains("30.0 s") && message.contains("120.0 s"),
            "{message}"
        );
    }
    sandbox.shutdown().await;
}

/// Scenario 2 (I1), Slack without grace: the store refuses the write of the rotated pair three
/// times (a busy SQLite, a dropped connection). The caller gets the new token, the write lands
/// later, and the next refresh presents the rotated refresh token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_after_a_slack_rotation_loses_nothing() {
    let sandbox = sandbox().await;
    let slack = strict_slack(&sandbox);
    let (_dir, sqlite) = sqlite().await;
    let faulty = Arc::new(FaultyStore::new(sqlite.clone()));
    let store: Arc<dyn TokenStore> = faulty.clone();
    let key = install(&sandbox, &slack, &store).await;
    let old = store.get(&key).await.unwrap().unwrap().tokens.access_token;
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(43_300),
    ));
    let manager = TokenManager::builder(slack.clone(), store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    faulty.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).times(3));
    let token = manager.access_token(&key).await.unwrap();
    assert_ne!(token, old, "the new token, not Error::Storage");
    assert!(slack.introspect(&token).await.unwrap().active);
    manager.flush().await;
    assert_eq!(
        sqlite.get(&key).await.unwrap().unwrap().tokens.access_token,
        token,
        "written once the store recovered"
    );
    // The next refresh spends the rotated refresh token: accepted.
    let again = manager.force_refresh(&key).await.unwrap();
    assert_ne!(again.access_token, token);
    assert_eq!(grants(&sandbox, STRICT_ID, SLACK_REFRESH), (2, 2));
    assert_usable(&sqlite, &key, &slack).await;
    sandbox.shutdown().await;
}

/// Scenario 2 with Notion (no grace either), and a write that landed although the store reported
/// a failure (the connection dropped after the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_write_after_a_notion_rotation_loses_nothing() {
    let sandbox = sandbox().await;
    let notion = notion(&sandbox);
    let (_dir, sqlite) = sqlite().await;
    let faulty = Arc::new(FaultyStore::new(sqlite.clone()));
    let store: Arc<dyn TokenStore> = faulty.clone();
    let key = install(&sandbox, &notion, &store).await;
    // Notion sends no expires_in: give the installation an expiry that has passed.
    let mut stored = store.get(&key).await.unwrap().unwrap().tokens;
    stored.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    store.save(&key, &stored).await.unwrap();
    let manager = TokenManager::builder(notion.clone(), store.clone())
        .build()
        .unwrap();
    faulty.inject(StoreFault::new(
        StoreOp::CompareAndSwap,
        FaultAction::FailAfterApplying,
    ));
    faulty.inject(StoreFault::new(StoreOp::CompareAndSwap, FaultAction::Fail).times(2));
    let token = manager.access_token(&key).await.unwrap();
    assert_ne!(token, stored.access_token);
    manager.flush().await;
    assert_eq!(
        sqlite.get(&key).await.unwrap().unwrap().tokens.access_token,
        token
    );
    let again = manager.force_refresh(&key).await.unwrap();
    assert_ne!(again.access_token, token);
    assert_eq!(
        grants(&sandbox, DEFAULT_NOTION_CLIENT_ID, NOTION_REFRESH),
        (2, 2),
        "the rotated refresh token was accepted"
    );
    assert_usable(&sqlite, &key, &notion).await;
    sandbox.shutdown().await;
}

/// Scenario 3 (I3) on PostgreSQL: while another replica holds the lease for a slow refresh, 10,000
/// callers whose cached token is due but valid are served from the cache; this replica's store
/// sees a handful of calls, not one per caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_with_a_valid_token_do_not_queue_on_the_database() {
    let Some(pool) = oauth_itest::postgres_schema("lifecycle").await else {
        return;
    };
    let postgres: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None)
            .await
            .unwrap(),
    );
    // Tokens that live 4 s: due after 2 s, still valid during the other replica's 1.5 s refresh.
    let sandbox = sandbox_with_ttl(Some(4)).await;
    let slack = strict_slack(&sandbox);
    let key = install(&sandbox, &slack, &postgres).await;
    let faulty = Arc::new(FaultyStore::new(postgres.clone()));
    let config = ManagerConfig::default().lease_ttl(Duration::from_secs(5));
    let ours = TokenManager::builder(slack.clone(), faulty.clone())
        .config(config.clone())
        .build()
        .unwrap();
    let theirs = TokenManager::builder(slack.clone(), postgres.clone())
        .config(config)
        .build()
        .unwrap();
    let old = ours.access_token(&key).await.unwrap();
    assert_eq!(theirs.access_token(&key).await.unwrap(), old);
    // The other replica starts a refresh that the sandbox answers after 1.5 s.
    sandbox.control().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::Delay { millis: 1_500 },
    ));
    tokio::time::sleep(Duration::from_millis(2_100)).await; // the token is now due
    // Served at once; its refresh (and lease) starts in the background.
    assert_eq!(theirs.access_token(&key).await.unwrap(), old);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before: u64 = StoreOp::ALL.iter().map(|op| faulty.calls(*op)).sum();
    let tasks: Vec<_> = (0..10_000)
        .map(|_| {
            let (ours, key) = (ours.clone(), key.clone());
            tokio::spawn(async move { ours.access_token(&key).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), old, "the valid cached token");
    }
    let calls: u64 = StoreOp::ALL.iter().map(|op| faulty.calls(*op)).sum::<u64>() - before;
    assert!(calls <= 4, "{calls} store calls for 10,000 callers");
    theirs.flush().await;
    ours.flush().await;
    assert_eq!(grants(&sandbox, STRICT_ID, SLACK_REFRESH), (1, 1));
    assert_usable(&postgres, &key, &slack).await;
    sandbox.shutdown().await;
}

/// The one window no design can close without a grace period: the provider rotated, and its
/// answer never arrived (here a dropped connection; a crash of the refreshing process is the
/// same). With Slack's grace period the retry recovers the pair (`replicas.rs`); without it the
/// installation is marked and callers get the typed error, as docs/replicas.md says.
#[tokio::test]
async fn a_lost_answer_without_a_grace_period_is_a_reported_lockout() {
    let sandbox = sandbox().await;
    let slack = strict_slack(&sandbox);
    let (_dir, store) = sqlite().await;
    let key = install(&sandbox, &slack, &store).await;
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(43_300),
    ));
    let manager = TokenManager::builder(slack.clone(), store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    sandbox.control().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::DropAfterProcessing,
    ));
    let lost = manager.access_token(&key).await.unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::Transport, "{lost:?}");
    clock.advance(Duration::from_secs(2));
    let refused = manager.access_token(&key).await.unwrap_err();
    assert!(refused.needs_reauthorization(), "{refused:?}");
    assert!(
        store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .needs_reauthorization
            .is_some()
    );
    sandbox.shutdown().await;
}
