//! `ManagedAuthLayer` around hyper-util's client, against oauth-sandbox over HTTP: the same
//! recoveries and refusals as the reqwest middleware, through a tower stack.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use oauth_client::tower::{BoxError, ManagedAuthLayer, ManagedAuthService};
use oauth_client::{ClientError, NotIdempotent};
use oauth_core::{ErrorKind, TokenStore};
use oauth_sandbox::{Fault, FaultKind, Sandbox};
use oauth_testkit::{LogCapture, assert_no_secret};
use support::{App, SLACK_REFRESH, notion_app, op, slack_app};
use tower::{Layer as _, Service as _, ServiceExt as _};

type Hyper = Client<HttpConnector, Full<Bytes>>;
type Managed = ManagedAuthService<Hyper>;

const EXPIRED: Duration = Duration::from_secs(43_200 + 60);

fn service(app: &App) -> Managed {
    let hyper: Hyper = Client::builder(TokioExecutor::new()).build_http();
    ManagedAuthLayer::new(app.manager.clone(), app.key.clone()).layer(hyper)
}

/// An answer, read whole.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: serde_json::Value,
}

async fn call(service: &Managed, request: Request<Full<Bytes>>) -> Result<Answer, BoxError> {
    let mut service = service.clone();
    let response = service.ready().await?.call(request).await?;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        json: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    })
}

fn post(url: String, form: &'static str) -> Request<Full<Bytes>> {
    Request::post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(form.as_bytes())))
        .unwrap()
}

async fn post_message(service: &Managed, app: &App) -> Result<Answer, BoxError> {
    call(
        service,
        post(
            format!("{}chat.postMessage", app.api),
            "channel=C0123&text=hello",
        ),
    )
    .await
}

fn client_error(error: &BoxError) -> &ClientError {
    error
        .downcast_ref::<ClientError>()
        .unwrap_or_else(|| panic!("a ClientError, not {error}"))
}

#[tokio::test]
async fn a_call_after_slack_expired_the_token_refreshes_once_and_succeeds() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    assert_eq!(post_message(&service, &app).await.unwrap().json["ok"], true);
    let before = app.store.get(&app.key).await.unwrap().unwrap().tokens;
    sandbox.control().advance_clock(EXPIRED);
    let answer = post_message(&service, &app).await.unwrap();
    assert_eq!(answer.json["ok"], true, "{}", answer.json);
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1);
    assert_eq!(
        op(&sandbox, "slack.chat.postMessage"),
        3,
        "ok, token_expired, ok"
    );
    let after = app.store.get(&app.key).await.unwrap().unwrap().tokens;
    assert_ne!(
        after.access_token, before.access_token,
        "rotated and stored"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_meeting_token_expired_make_one_refresh_grant() {
    let mut limits = oauth_sandbox::Limits::default();
    limits.max_connections = 4_096;
    let sandbox = Sandbox::builder().limits(limits).start().await.unwrap();
    let app = Arc::new(slack_app(&sandbox).await);
    let service = service(&app);
    assert_eq!(post_message(&service, &app).await.unwrap().json["ok"], true);
    sandbox.control().advance_clock(EXPIRED);
    let mut calls = Vec::new();
    for _ in 0..1_000 {
        let (service, app) = (service.clone(), app.clone());
        calls.push(tokio::spawn(async move {
            post_message(&service, &app).await.unwrap().json
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap()["ok"], true);
    }
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1, "one refresh grant");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_revoked_token_is_a_typed_error_without_a_retry() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    let token = app.manager.access_token(&app.key).await.unwrap();
    let revoked = reqwest::Client::new()
        .post(format!("{}auth.revoke", app.api))
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let error = post_message(&service, &app).await.err().expect("an error");
    let typed = client_error(&error);
    assert!(matches!(typed, ClientError::Revoked { code, .. } if code == "token_revoked"));
    assert_eq!(typed.kind(), ErrorKind::ReauthorizationRequired);
    assert!(!error.to_string().contains(token.expose_secret()));
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1, "no retry");
    assert_eq!(op(&sandbox, SLACK_REFRESH), 0, "no refresh");
    let stored = app.store.get(&app.key).await.unwrap().unwrap();
    assert_eq!(
        stored.needs_reauthorization.as_deref(),
        Some("token_revoked")
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_request_marked_not_idempotent_is_not_resent_and_the_next_call_is_fresh() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    sandbox.control().advance_clock(EXPIRED);
    let mut request = post(format!("{}chat.postMessage", app.api), "channel=C0123");
    request.extensions_mut().insert(NotIdempotent);
    let answer = call(&service, request).await.unwrap();
    assert_eq!(
        answer.json["error"], "token_expired",
        "Slack's answer, as it was"
    );
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1, "not resent");
    assert_eq!(op(&sandbox, SLACK_REFRESH), 0, "nothing refreshed yet");
    // The refused token was reported: the next call carries a refreshed one.
    assert_eq!(post_message(&service, &app).await.unwrap().json["ok"], true);
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1);
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_failing_refresh_gives_the_caller_its_error_once() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    sandbox.control().advance_clock(EXPIRED);
    sandbox.control().inject_fault(
        Fault::new("/api/oauth.v2.access", FaultKind::Status { status: 400 }).times(1_000),
    );
    let error = post_message(&service, &app).await.err().expect("an error");
    assert!(
        matches!(client_error(&error), ClientError::Token { .. }),
        "{error}"
    );
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1, "no loop");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_the_callers_answer_and_never_retried_here() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    sandbox.control().inject_fault(Fault::new(
        "/api/chat.postMessage",
        FaultKind::RateLimited {
            retry_after_secs: 3,
        },
    ));
    let answer = post_message(&service, &app).await.unwrap();
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.headers["retry-after"], "3");
    assert_eq!(
        sandbox.control().counters().path("/api/chat.postMessage"),
        1,
        "sent once"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn notion_401_recovers_once_and_a_request_without_a_token_set_is_refused() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = notion_app(&sandbox).await;
    let service = service(&app);
    let me = || {
        Request::get(format!("{}users/me", app.api))
            .header("notion-version", "2022-06-28")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    let answer = call(&service, me()).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(answer.json["type"], "bot", "{}", answer.json);
    // Another replica rotated the tokens: this manager's cached token is now dead at Notion.
    let stored = app.store.get(&app.key).await.unwrap().unwrap();
    let rotated = app
        .manager
        .provider()
        .refresh(stored.tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    app.store
        .compare_and_swap(&app.key, stored.version, &rotated)
        .await
        .unwrap();
    let answer = call(&service, me()).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "recovered: {}", answer.json);
    assert_eq!(op(&sandbox, "notion.users.me"), 3, "ok, 401, ok");
    assert_eq!(
        op(&sandbox, "notion.token.refresh_token"),
        1,
        "the store's new token, no refresh"
    );

    // One service for every installation: a request names its token set, or is refused.
    let hyper: Hyper = Client::builder(TokioExecutor::new()).build_http();
    let shared = ManagedAuthLayer::per_request(app.manager.clone()).layer(hyper);
    let error = call(&shared, me()).await.err().expect("an error");
    assert!(
        matches!(client_error(&error), ClientError::NoTokenSet),
        "{error}"
    );
    let mut named = me();
    named.extensions_mut().insert(app.key.clone());
    assert_eq!(call(&shared, named).await.unwrap().status, StatusCode::OK);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn no_secret_in_trace_logs_or_errors_through_the_layer() {
    let logs = LogCapture::install();
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let service = service(&app);
    let first = app.manager.access_token(&app.key).await.unwrap();
    sandbox.control().advance_clock(EXPIRED);
    assert_eq!(post_message(&service, &app).await.unwrap().json["ok"], true);
    let second = app.manager.access_token(&app.key).await.unwrap();
    let stored = app.store.get(&app.key).await.unwrap().unwrap().tokens;
    let refresh = stored.refresh_token.clone().unwrap();
    // A request carrying a header of its own: the layer replaces it, and nothing logs either.
    let mut request = post(format!("{}auth.revoke", app.api), "");
    request
        .headers_mut()
        .insert(AUTHORIZATION, "Bearer caller-supplied".parse().unwrap());
    call(&service, request).await.unwrap();
    let error = post_message(&service, &app).await.err().expect("revoked");
    let text = format!("{error} {error:?} {service:?}");
    let secrets = [
        first.expose_secret().to_owned(),
        second.expose_secret().to_owned(),
        refresh.expose_secret().to_owned(),
        oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET.to_owned(),
    ];
    assert_no_secret(&text, &secrets);
    assert_no_secret(&logs.contents(), &secrets);
    sandbox.shutdown().await;
}
