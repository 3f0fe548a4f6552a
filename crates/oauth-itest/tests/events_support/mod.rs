//! What the sandbox-events tests share: a sandbox with short retries, the Slack client, replicas
//! (a token manager and the facade's events endpoint on a loopback port, behind a check of the
//! signature with `hmac`/`sha2`), installs through the sandbox, and waits with deadlines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

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
use oauth_facade::slack::SigningSecret;
use oauth_facade::slack::events::{EventDelivery, EventsEndpoint};
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_sandbox::{
    Consent, DEFAULT_SLACK_CLIENT_ID as ID, DeliveryStatus, Limits, OutgoingEvent, Sandbox,
    SandboxHandle,
};
use oauth_slack::SlackClient;
use sha2::Sha256;

pub(crate) const SECRET: &str = "7a1b2c3d4e5f60718293a4b5c6d7e8f9";
pub(crate) const REVALIDATE: Duration = Duration::from_millis(250);

pub(crate) fn slack(sandbox: &SandboxHandle) -> Arc<SlackClient> {
    let base = sandbox.base_url();
    Arc::new(
        SlackClient::builder(ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .http_client(oauth_itest::http_client().unwrap())
            .build()
            .unwrap(),
    )
}

/// A sandbox that retries twice, at once and after 50 ms (Slack: 3 times, at once, after 1 min
/// and after 5 min).
pub(crate) async fn sandbox() -> SandboxHandle {
    let mut limits = Limits::default();
    limits.event_retry_delays = vec![Duration::ZERO, Duration::from_millis(50)];
    limits.event_timeout = Duration::from_secs(2);
    Sandbox::builder().limits(limits).start().await.unwrap()
}

/// What one replica's events endpoint saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Headers of each request (after the signature check here).
    pub(crate) requests: Mutex<Vec<HeaderMap>>,
    /// Event ids handed to the app's handler.
    pub(crate) handled: Mutex<Vec<String>>,
    /// Answer 500 (after the endpoint answered) to this many requests first.
    pub(crate) fail_first: AtomicUsize,
}

pub(crate) struct Replica {
    pub(crate) manager: TokenManager,
    pub(crate) url: String,
    pub(crate) seen: Arc<Seen>,
}

/// Slack's signature, checked with `hmac`/`sha2`: whether `headers` sign `body` with `secret`.
pub(crate) fn signed_with(headers: &HeaderMap, body: &[u8], secret: &str) -> bool {
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

pub(crate) async fn replica(
    slack: &Arc<SlackClient>,
    store: Arc<dyn TokenStore>,
    holder: &str,
    secret: &str,
) -> Replica {
    replica_sharing(slack, store, holder, secret, None).await
}

pub(crate) async fn replica_sharing(
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
pub(crate) async fn replica_with(
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

pub(crate) async fn install(
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
pub(crate) async fn delivered(sandbox: &SandboxHandle, event_type: &str) -> OutgoingEvent {
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
pub(crate) async fn until_not_served(
    manager: &TokenManager,
    key: &TokenKey,
    since: Instant,
) -> Error {
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

pub(crate) async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn TokenStore> {
    let path = dir.path().join("tokens.db");
    Arc::new(
        oauth_store::SqliteTokenStore::open(path.to_str().unwrap())
            .await
            .unwrap(),
    )
}

pub(crate) fn t(team: &str) -> InstallationKey {
    InstallationKey::workspace(oauth_slack::PROVIDER, None, team)
}

pub(crate) fn keys(keys: Vec<TokenKey>) -> Vec<String> {
    let mut keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
    keys.sort();
    keys
}

/// A load balancer in front of the replicas' endpoints: request n goes to `targets[n % len]`.
pub(crate) async fn balancer(targets: Vec<String>) -> String {
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
