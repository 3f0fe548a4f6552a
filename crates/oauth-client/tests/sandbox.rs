//! `ManagedAuth` against oauth-sandbox over HTTP: Slack's and Notion's API calls with managed
//! tokens, the refusals it recovers from (once), and those it must not retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use oauth_client::{ClientError, ManagedAuth, NotIdempotent, reqwest_middleware};
use oauth_core::{ErrorKind, TokenStore};
use oauth_sandbox::{Fault, FaultKind, Sandbox};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use support::{App, SLACK_REFRESH, notion_app, op, slack_app};

fn client(app: &App) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::new(app.manager.clone(), app.key.clone()))
        .build()
}

async fn post_message(client: &ClientWithMiddleware, app: &App) -> serde_json::Value {
    client
        .post(format!("{}chat.postMessage", app.api))
        .form(&[("channel", "C0123"), ("text", "hello")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_call_after_slack_expired_the_token_refreshes_once_and_succeeds() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let client = client(&app);
    assert_eq!(post_message(&client, &app).await["ok"], true);
    let before = app.store.get(&app.key).await.unwrap().unwrap().tokens;
    // Slack's clock passes the token's lifetime; ours does not know (a skew).
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    assert_eq!(post_message(&client, &app).await["ok"], true);
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
    // The next call uses the new token at once.
    assert_eq!(post_message(&client, &app).await["ok"], true);
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 4);
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_meeting_token_expired_make_one_refresh_grant() {
    let mut limits = oauth_sandbox::Limits::default();
    limits.max_connections = 4_096;
    let sandbox = Sandbox::builder().limits(limits).start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let client = client(&app);
    assert_eq!(post_message(&client, &app).await["ok"], true);
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    let app = Arc::new(app);
    let mut calls = Vec::new();
    for _ in 0..1_000 {
        let (client, app) = (client.clone(), app.clone());
        calls.push(tokio::spawn(
            async move { post_message(&client, &app).await },
        ));
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
    let client = client(&app);
    let token = app.manager.access_token(&app.key).await.unwrap();
    // The workspace takes the token back.
    let revoked = reqwest::Client::new()
        .post(format!("{}auth.revoke", app.api))
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    let error = client
        .post(format!("{}chat.postMessage", app.api))
        .send()
        .await
        .unwrap_err();
    let typed = ClientError::of(&error).expect("a ClientError");
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
    // The next call does not reach Slack: the token set must be installed again.
    let error = client
        .post(format!("{}chat.postMessage", app.api))
        .send()
        .await
        .unwrap_err();
    let typed = ClientError::of(&error).expect("a ClientError");
    assert_eq!(typed.kind(), ErrorKind::ReauthorizationRequired, "{typed}");
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_request_that_cannot_be_resent_is_not_and_the_next_call_is_fresh() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let client = client(&app);
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    // A streamed body cannot be cloned.
    let stream = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"channel=C0123&text=hello"))
    });
    let answer: serde_json::Value = client
        .post(format!("{}chat.postMessage", app.api))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        answer["error"], "token_expired",
        "Slack's answer, as it was: {answer}"
    );
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1, "not resent");
    // The refused token was reported: the manager's next token is a refreshed one.
    app.manager.access_token(&app.key).await.unwrap();
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1);
    // A request marked not idempotent is not resent either.
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    let app2 = &app;
    let answer: serde_json::Value = client
        .post(format!("{}chat.postMessage", app2.api))
        .with_extension(NotIdempotent)
        .form(&[("channel", "C0123")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["error"], "token_expired");
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 2, "not resent");
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1);
    // The next call carries a fresh token.
    assert_eq!(post_message(&client, &app).await["ok"], true);
    assert_eq!(op(&sandbox, SLACK_REFRESH), 2);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_failing_refresh_gives_the_caller_its_error_once() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let client = client(&app);
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    sandbox.control().inject_fault(
        Fault::new("/api/oauth.v2.access", FaultKind::Status { status: 400 }).times(1_000),
    );
    let error = client
        .post(format!("{}chat.postMessage", app.api))
        .form(&[("channel", "C0123")])
        .send()
        .await
        .unwrap_err();
    let typed = ClientError::of(&error).expect("a ClientError");
    assert!(matches!(typed, ClientError::Token { .. }), "{typed}");
    assert_eq!(op(&sandbox, "slack.chat.postMessage"), 1, "no loop");
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_rate_limit_is_the_callers_answer_and_never_retried_here() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    let client = client(&app);
    sandbox.control().inject_fault(Fault::new(
        "/api/chat.postMessage",
        FaultKind::RateLimited {
            retry_after_secs: 3,
        },
    ));
    let response = client
        .post(format!("{}chat.postMessage", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "3");
    assert_eq!(
        sandbox.control().counters().path("/api/chat.postMessage"),
        1,
        "sent once"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn notion_401_refreshes_once_and_one_client_serves_every_installation() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = notion_app(&sandbox).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::per_request(app.manager.clone()))
        .build();
    let me = || {
        client
            .get(format!("{}users/me", app.api))
            .header("notion-version", "2022-06-28")
            .with_extension(app.key.clone())
    };
    let bot: serde_json::Value = me().send().await.unwrap().json().await.unwrap();
    assert_eq!(bot["type"], "bot");
    // Another replica rotated the tokens: this manager's cached token is now dead at Notion.
    let stored = app.store.get(&app.key).await.unwrap().unwrap();
    let provider = app.manager.provider().clone();
    let rotated = provider
        .refresh(stored.tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    app.store
        .compare_and_swap(&app.key, stored.version, &rotated)
        .await
        .unwrap();
    let response = me().send().await.unwrap();
    assert_eq!(response.status(), 200, "recovered");
    assert_eq!(op(&sandbox, "notion.users.me"), 3, "ok, 401, ok");
    assert_eq!(
        op(&sandbox, "notion.token.refresh_token"),
        1,
        "the store's new token, no refresh"
    );
    // Without a key the request is refused before it leaves.
    let error = client
        .get(format!("{}users/me", app.api))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        ClientError::of(&error),
        Some(ClientError::NoTokenSet)
    ));
    assert_eq!(op(&sandbox, "notion.users.me"), 3);
    sandbox.shutdown().await;
}

/// A retry layer as an application adds one (reqwest-retry's place): one retry of a 429, after
/// its `Retry-After`.
struct RetryOnce429;

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RetryOnce429 {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let again = request.try_clone();
        let response = next.clone().run(request, extensions).await?;
        match (response.status().as_u16(), again) {
            (429, Some(again)) => {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
                next.run(again, extensions).await
            }
            _ => Ok(response),
        }
    }
}

#[tokio::test]
async fn after_a_retry_layer_a_429_is_retried_once_and_a_refused_token_refreshed_once() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = slack_app(&sandbox).await;
    // The order the crate docs give: ManagedAuth first (outer), the retry layer after it.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::new(app.manager.clone(), app.key.clone()))
        .with(RetryOnce429)
        .build();
    sandbox.control().inject_fault(
        Fault::new(
            "/api/chat.postMessage",
            FaultKind::RateLimited {
                retry_after_secs: 1,
            },
        )
        .times(1),
    );
    assert_eq!(post_message(&client, &app).await["ok"], true);
    let sent = || sandbox.control().counters().path("/api/chat.postMessage");
    assert_eq!(sent(), 2, "the 429, then its one retry");
    // A refused token: the retry layer passes Slack's 200 on, ManagedAuth refreshes and resends.
    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    assert_eq!(post_message(&client, &app).await["ok"], true);
    assert_eq!(sent(), 4, "token_expired, then the resend");
    assert_eq!(op(&sandbox, SLACK_REFRESH), 1);
    sandbox.shutdown().await;
}
