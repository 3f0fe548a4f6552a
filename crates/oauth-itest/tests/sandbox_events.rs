//! Slack's events as oauth-sandbox sends them (signed, in the background, retried as Slack
//! retries), received by the facade's events endpoint served by axum on loopback: a user token
//! revoked through `auth.revoke`, an uninstall seen by two replicas sharing PostgreSQL, an
//! org-wide uninstall, a retry of an event already handled, and a wrong signing secret. Each
//! delivery's signature is also checked here with `hmac`/`sha2`, before the endpoint sees it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use hmac::{Hmac, Mac as _};
use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, Error, InstallationKey, Scopes,
    TokenKey, TokenStore, UsedStates,
};
use oauth_facade::slack::events::{EventDelivery, EventsEndpoint};
use oauth_facade::slack::{SigningSecret, SlackContext, authorize};
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_sandbox::{
    Consent, DEFAULT_SLACK_CLIENT_ID as ID, DeliveryStatus, Limits, OutgoingEvent, Sandbox,
    SandboxHandle,
};
use oauth_slack::{AuthRevokeRequest, SlackClient};
use sha2::Sha256;

const SECRET: &str = "7a1b2c3d4e5f60718293a4b5c6d7e8f9";
const REVALIDATE: Duration = Duration::from_millis(250);

fn slack(sandbox: &SandboxHandle) -> Arc<SlackClient> {
    let base = sandbox.base_url();
    Arc::new(
        SlackClient::builder(ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .api_base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .http_client(oauth_itest::http_client().unwrap())
            .build()
            .unwrap(),
    )
}

/// A sandbox that retries twice, at once and after 50 ms (Slack: 3 times, at once, after 1 min
/// and after 5 min).
async fn sandbox() -> SandboxHandle {
    let mut limits = Limits::default();
    limits.event_retry_delays = vec![Duration::ZERO, Duration::from_millis(50)];
    limits.event_timeout = Duration::from_secs(2);
    Sandbox::builder().limits(limits).start().await.unwrap()
}

/// What one replica's events endpoint saw.
#[derive(Default)]
struct Seen {
    /// Headers of each request (after the signature check here).
    requests: Mutex<Vec<HeaderMap>>,
    /// Event ids handed to the app's handler.
    handled: Mutex<Vec<String>>,
    /// Answer 500 (after the endpoint answered) to this many requests first.
    fail_first: AtomicUsize,
}

struct Replica {
    manager: TokenManager,
    url: String,
    seen: Arc<Seen>,
}

/// Slack's signature, checked with `hmac`/`sha2`: whether `headers` sign `body` with `secret`.
fn signed_with(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
    let (Some(ts), Some(sig)) = (
        headers.get("x-slack-request-timestamp"),
        headers.get("x-slack-signature"),
    ) else {
        return false;
    };
    let ts = ts.to_str().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts.parse().unwrap()) <= 5);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    sig.as_bytes() == format!("v0={hex}").as_bytes()
}

async fn replica(
    slack: &Arc<SlackClient>,
    store: Arc<dyn TokenStore>,
    holder: &str,
    secret: &str,
) -> Replica {
    replica_sharing(slack, store, holder, secret, None).await
}

async fn replica_sharing(
    slack: &Arc<SlackClient>,
    store: Arc<dyn TokenStore>,
    holder: &str,
    secret: &str,
    shared: Option<Arc<dyn UsedStates>>,
) -> Replica {
    replica_with(slack, store, holder, (secret, None), shared, SECRET).await
}

/// A replica verifying with `secrets` (the current one, and a previous one while rotating),
/// behind a check that the sandbox signed with `signed_by`.
async fn replica_with(
    slack: &Arc<SlackClient>,
    store: Arc<dyn TokenStore>,
    holder: &str,
    (secret, previous): (&str, Option<&str>),
    shared: Option<Arc<dyn UsedStates>>,
    signed_by: &'static str,
) -> Replica {
    let manager = TokenManager::builder(slack.clone(), store)
        .config(ManagerConfig::default().revalidate_interval(REVALIDATE))
        .holder_id(holder)
        .build()
        .unwrap();
    let seen = Arc::new(Seen::default());
    let handled = seen.clone();
    let mut builder = EventsEndpoint::builder(SigningSecret::new(secret));
    if let Some(previous) = previous {
        builder = builder.previous_secret(SigningSecret::new(previous));
    }
    if let Some(shared) = shared {
        builder = builder.shared_dedup(shared);
    }
    let endpoint = builder
        .token_manager(manager.clone())
        .handler(move |delivery: EventDelivery| {
            let handled = handled.clone();
            async move {
                handled
                    .handled
                    .lock()
                    .unwrap()
                    .push(delivery.callback.event_id.clone());
            }
        })
        .build()
        .unwrap();
    let checked = seen.clone();
    let router: axum::Router = endpoint
        .router("/slack/events")
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let seen = checked.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                    assert!(
                        signed_with(&parts.headers, &body, signed_by),
                        "not signed as registered"
                    );
                    seen.requests.lock().unwrap().push(parts.headers.clone());
                    let answer = next.run(Request::from_parts(parts, Body::from(body))).await;
                    let fail = seen
                        .fail_first
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                        .is_ok();
                    if fail {
                        // The app handled it, but its answer is lost to a failing proxy.
                        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    }
                    answer
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Replica { manager, url, seen }
}

async fn install(
    sandbox: &SandboxHandle,
    slack: &SlackClient,
    manager: &TokenManager,
    consent: Consent,
) {
    sandbox.control().push_consent(consent);
    let request = AuthorizationRequest::new()
        .unwrap()
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .scopes(Scopes::parse("chat:write"))
        .param("user_scope", "search:read");
    let url = oauth_core::TokenProvider::authorization_url(slack, &request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let exchange = CodeExchange::new(AuthorizationCode::new(code))
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0]);
    manager.exchange_and_save(exchange).await.unwrap();
}

/// Polls the sandbox's delivery log until the event of type `event_type` is settled.
async fn delivered(sandbox: &SandboxHandle, event_type: &str) -> OutgoingEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let settled = sandbox
            .control()
            .events()
            .into_iter()
            .find(|e| e.event_type == event_type && e.status != DeliveryStatus::Pending);
        if let Some(event) = settled {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no {event_type} settled: {:?}",
            sandbox.control().events()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls `manager` until it stops serving `key`, within the documented bound (the
/// revalidate interval plus one store read, here given 2 s) after `since`.
async fn until_not_served(manager: &TokenManager, key: &TokenKey, since: Instant) -> Error {
    let deadline = since + REVALIDATE + Duration::from_secs(2);
    loop {
        match manager.access_token(key).await {
            Err(error) => return error,
            Ok(_) => {
                assert!(
                    Instant::now() < deadline,
                    "{key} still served past the bound"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn TokenStore> {
    let path = dir.path().join("tokens.db");
    Arc::new(
        oauth_store::SqliteTokenStore::open(path.to_str().unwrap())
            .await
            .unwrap(),
    )
}

fn t(team: &str) -> InstallationKey {
    InstallationKey::workspace(oauth_slack::PROVIDER, None, team)
}

fn keys(keys: Vec<TokenKey>) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_revoking_their_token_ends_that_token_set_and_the_bot_keeps_working() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    let user = TokenKey::user(t("T1"), "U1");
    let bot = TokenKey::bot(t("T1"));
    let user_token = a.manager.access_token(&user).await.unwrap();

    let revoked = slack
        .auth_revoke(&user_token, &AuthRevokeRequest::new())
        .await
        .unwrap();
    assert_eq!(revoked.revoked, Some(true));
    let event = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    assert_eq!(event.attempts.len(), 1);
    assert_eq!(
        event.envelope()["event"]["tokens"]["oauth"],
        serde_json::json!(["U1"])
    );
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);

    // Gone from the store and from the cache; the bot stays, and works.
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
    assert!(matches!(
        a.manager.access_token(&user).await,
        Err(Error::InstallationNotFound { .. })
    ));
    let bot_token = a.manager.access_token(&bot).await.unwrap();
    let test = slack.auth_test(&bot_token).await.unwrap();
    assert_eq!(test.team_id.as_deref(), Some("T1"));
    assert!(store.installation(&t("T1")).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uninstall_is_gone_on_two_replicas_sharing_postgresql_within_the_bound() {
    let Some(pool) = oauth_itest::postgres_schema("sbx_events").await else {
        return;
    };
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let store_a: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool.clone(), None)
            .await
            .unwrap(),
    );
    let store_b: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None)
            .await
            .unwrap(),
    );
    let a = replica(&slack, store_a.clone(), "replica-a", SECRET).await;
    let b = replica(&slack, store_b, "replica-b", SECRET).await;
    // Slack sends to one request URL: the event reaches replica A only.
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T2", "Two", "U2"),
    )
    .await;
    let (t1_bot, t1_user) = (TokenKey::bot(t("T1")), TokenKey::user(t("T1"), "U1"));
    for key in [&t1_bot, &t1_user] {
        assert!(b.manager.access_token(key).await.is_ok(), "B caches {key}");
    }

    let revocation = sandbox.control().uninstall(ID, "T1").unwrap();
    assert_eq!(
        revocation.event_ids.len(),
        2,
        "tokens_revoked, then app_uninstalled"
    );
    let uninstalled = delivered(&sandbox, "app_uninstalled").await;
    let since = Instant::now();
    assert_eq!(
        uninstalled.status,
        DeliveryStatus::Delivered,
        "{uninstalled:?}"
    );
    assert_eq!(
        delivered(&sandbox, "tokens_revoked").await.status,
        DeliveryStatus::Delivered
    );
    assert!(b.seen.requests.lock().unwrap().is_empty());

    assert!(store_a.installation(&t("T1")).await.unwrap().is_none());
    assert!(store_a.token_keys(&t("T1")).await.unwrap().is_empty());
    for key in [&t1_bot, &t1_user] {
        assert!(matches!(
            a.manager.access_token(key).await,
            Err(Error::InstallationNotFound { .. })
        ));
        assert!(matches!(
            until_not_served(&b.manager, key, since).await,
            Error::InstallationNotFound { .. }
        ));
    }
    // T2 is untouched, on both.
    for replica in [&a, &b] {
        assert!(
            replica
                .manager
                .access_token(&TokenKey::bot(t("T2")))
                .await
                .is_ok()
        );
    }
    assert_eq!(
        keys(store_a.list(None).await.unwrap()),
        ["slack/T2#bot", "slack/T2#user:U2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_wide_uninstall_ends_every_workspaces_view_of_it() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    let org = Consent::org_wide("E1", "Grid", "UADMIN", &["T1", "T2"]);
    install(&sandbox, &slack, &a.manager, org).await;
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T9", "Elsewhere", "U9"),
    )
    .await;
    let view = |team: &str| SlackContext::new(Some("E1"), Some(team), Some("UADMIN"), true);
    for team in ["T1", "T2"] {
        let tokens = authorize(&a.manager, &view(team)).await.unwrap();
        assert!(
            tokens.bot.is_some() && tokens.user.is_some(),
            "{team} is served by the org install"
        );
    }

    sandbox.control().uninstall(ID, "E1").unwrap();
    let event = delivered(&sandbox, "app_uninstalled").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    assert_eq!(event.envelope()["enterprise_id"], "E1");
    delivered(&sandbox, "tokens_revoked").await;

    for team in ["T1", "T2"] {
        assert!(
            matches!(
                authorize(&a.manager, &view(team)).await,
                Err(Error::InstallationNotFound { .. })
            ),
            "{team} is no longer served"
        );
    }
    let org_key = InstallationKey::organization(oauth_slack::PROVIDER, "E1");
    assert!(store.installation(&org_key).await.unwrap().is_none());
    assert_eq!(
        keys(store.list(None).await.unwrap()),
        ["slack/T9#bot", "slack/T9#user:U9"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_an_event_already_handled_is_answered_200_and_not_handled_again() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let a = replica(&slack, store.clone(), "a", SECRET).await;
    a.seen.fail_first.store(1, Ordering::Release);
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;

    sandbox
        .control()
        .revoke_user_tokens(ID, "T1", "U1")
        .unwrap();
    let event = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    let attempts: Vec<_> = event
        .attempts
        .iter()
        .map(|a| (a.retry_num, a.retry_reason.as_deref(), a.status))
        .collect();
    assert_eq!(
        attempts,
        [(0, None, Some(500)), (1, Some("http_error"), Some(200))]
    );
    let requests = a.seen.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].get("x-slack-retry-num").is_none());
    assert_eq!(requests[1]["x-slack-retry-num"], "1");
    assert_eq!(requests[1]["x-slack-retry-reason"], "http_error");
    // The handler ran once; the tokens went with the first delivery.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signing_secret_is_refused_401_and_changes_nothing() {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    // The app verifies with another secret than the one the sandbox signs with.
    let a = replica(
        &slack,
        store.clone(),
        "a",
        "ffffffffffffffffffffffffffffffff",
    )
    .await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    let before = keys(store.list(None).await.unwrap());

    sandbox.control().uninstall(ID, "T1").unwrap();
    for event_type in ["tokens_revoked", "app_uninstalled"] {
        let event = delivered(&sandbox, event_type).await;
        assert_eq!(event.status, DeliveryStatus::Failed, "{event:?}");
        let statuses: Vec<_> = event
            .attempts
            .iter()
            .map(|a| (a.status, a.failure.as_deref()))
            .collect();
        assert_eq!(
            statuses,
            [(Some(401), Some("http_error")); 3],
            "the first and 2 retries"
        );
    }
    assert!(a.seen.handled.lock().unwrap().is_empty());
    assert_eq!(keys(store.list(None).await.unwrap()), before);
    assert!(store.installation(&t("T1")).await.unwrap().is_some());
    assert!(
        a.manager
            .access_token(&TokenKey::user(t("T1"), "U1"))
            .await
            .is_ok()
    );
}

/// A load balancer in front of the replicas' endpoints: request n goes to `targets[n % len]`.
async fn balancer(targets: Vec<String>) -> String {
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let forward = move |headers: HeaderMap, body: axum::body::Bytes| {
        let (next, http, targets) = (next.clone(), http.clone(), targets.clone());
        async move {
            let target = &targets[next.fetch_add(1, Ordering::AcqRel) % targets.len()];
            let mut request = http.post(target).body(body);
            for (name, value) in &headers {
                if name.as_str().starts_with("x-slack-") || name == "content-type" {
                    request = request.header(name.as_str(), value.as_bytes());
                }
            }
            let answer = request.send().await.unwrap();
            StatusCode::from_u16(answer.status().as_u16()).unwrap()
        }
    };
    let router = axum::Router::new().route("/slack/events", axum::routing::post(forward));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slack/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

/// The first delivery reaches replica A, which handles it but whose answer is lost (500); the
/// retry reaches replica B, which shares the store of handled events: B answers 200, and the
/// app's handler ran once, on A.
async fn a_retry_on_another_replica_is_not_handled_twice(
    a_store: (Arc<dyn TokenStore>, Arc<dyn UsedStates>),
    b_store: (Arc<dyn TokenStore>, Arc<dyn UsedStates>),
) {
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let a = replica_sharing(&slack, a_store.0.clone(), "a", SECRET, Some(a_store.1)).await;
    let b = replica_sharing(&slack, b_store.0, "b", SECRET, Some(b_store.1)).await;
    a.seen.fail_first.store(1, Ordering::Release);
    let url = balancer(vec![a.url.clone(), b.url.clone()]).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;

    sandbox
        .control()
        .revoke_user_tokens(ID, "T1", "U1")
        .unwrap();
    let event = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(event.status, DeliveryStatus::Delivered, "{event:?}");
    let attempts: Vec<_> = event
        .attempts
        .iter()
        .map(|a| (a.retry_num, a.status))
        .collect();
    assert_eq!(attempts, [(0, Some(500)), (1, Some(200))]);
    let b_requests = b.seen.requests.lock().unwrap().clone();
    assert_eq!(b_requests.len(), 1);
    assert_eq!(b_requests[0]["x-slack-retry-num"], "1");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*a.seen.handled.lock().unwrap(), [event.event_id.as_str()]);
    assert!(
        b.seen.handled.lock().unwrap().is_empty(),
        "B did not run the handler again"
    );
    assert_eq!(
        keys(a_store.0.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_replica_sharing_sqlite_is_not_handled_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.db");
    let open = || async {
        Arc::new(
            oauth_store::SqliteTokenStore::open(path.to_str().unwrap())
                .await
                .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    a_retry_on_another_replica_is_not_handled_twice((a.clone(), a), (b.clone(), b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_another_replica_sharing_postgresql_is_not_handled_twice() {
    let Some(pool) = oauth_itest::postgres_schema("sbx_dedup").await else {
        return;
    };
    let open = || async {
        Arc::new(
            oauth_store::PostgresTokenStore::from_pool(pool.clone(), None)
                .await
                .unwrap(),
        )
    };
    let (a, b) = (open().await, open().await);
    a_retry_on_another_replica_is_not_handled_twice((a.clone(), a), (b.clone(), b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_signing_secret_rotates_both_secrets_are_accepted_and_no_other() {
    const NEW: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    const OTHER: &str = "00112233445566778899aabbccddeeff";
    let sandbox = sandbox().await;
    let slack = slack(&sandbox);
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    // The app verifies with the new secret and, until the rotation ends, the previous one; the
    // sandbox still signs with the previous one (SECRET).
    let a = replica_with(
        &slack,
        store.clone(),
        "a",
        (NEW, Some(SECRET)),
        None,
        SECRET,
    )
    .await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&a.url), Some(SECRET))
        .unwrap();
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T1", "One", "U1"),
    )
    .await;
    install(
        &sandbox,
        &slack,
        &a.manager,
        Consent::approve("T2", "Two", "U2"),
    )
    .await;
    sandbox
        .control()
        .revoke_user_tokens(ID, "T1", "U1")
        .unwrap();
    let old = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(
        old.status,
        DeliveryStatus::Delivered,
        "the previous secret: {old:?}"
    );
    assert_eq!(
        keys(store.token_keys(&t("T1")).await.unwrap()),
        ["slack/T1#bot"]
    );

    // Slack now signs with the new secret: accepted too.
    let b = replica_with(&slack, store.clone(), "b", (NEW, Some(SECRET)), None, NEW).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&b.url), Some(NEW))
        .unwrap();
    sandbox.control().clear_events();
    sandbox
        .control()
        .revoke_user_tokens(ID, "T2", "U2")
        .unwrap();
    let new = delivered(&sandbox, "tokens_revoked").await;
    assert_eq!(
        new.status,
        DeliveryStatus::Delivered,
        "the new secret: {new:?}"
    );
    assert_eq!(
        keys(store.token_keys(&t("T2")).await.unwrap()),
        ["slack/T2#bot"]
    );

    // A third secret is refused, and changes nothing.
    let c = replica_with(&slack, store.clone(), "c", (NEW, Some(SECRET)), None, OTHER).await;
    sandbox
        .control()
        .set_event_subscription(ID, Some(&c.url), Some(OTHER))
        .unwrap();
    sandbox.control().clear_events();
    sandbox.control().uninstall(ID, "T2").unwrap();
    let refused = delivered(&sandbox, "app_uninstalled").await;
    assert_eq!(refused.status, DeliveryStatus::Failed, "{refused:?}");
    assert!(refused.attempts.iter().all(|a| a.status == Some(401)));
    assert_eq!(
        keys(store.token_keys(&t("T2")).await.unwrap()),
        ["slack/T2#bot"]
    );
    assert!(c.seen.handled.lock().unwrap().is_empty());
}
