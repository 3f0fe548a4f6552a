//! Tracing output of a call with retries names the call and never a secret.
//!
//! A test binary of its own: tracing caches callsite interest process-wide, so a thread-local
//! subscriber in a binary whose other tests run in parallel can miss events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use oauth_core::ProviderId;
use oauth_core::http::{
    Call, HttpClient, Idempotency, ReqwestTransport, RetryPolicy, classify_status,
};

use oauth_testkit::{FakeServer, LogCapture, Reply};

fn client() -> HttpClient {
    let policy = RetryPolicy::default()
        .max_attempts(3)
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(40));
    HttpClient::new(Arc::new(ReqwestTransport::new().unwrap()), policy)
}

#[tokio::test]
async fn traces_name_the_call_but_never_a_secret() {
    const SECRETS: [&str; 3] = [
        "xoxe-1-REQUESTSECRET",
        "Bearer HEADERSECRET",
        "RESPONSESECRET",
    ];
    let capture = LogCapture::install();

    let server = FakeServer::start(vec![
        Reply::json(503, r#"{"access_token":"RESPONSESECRET"}"#),
        Reply::Drop,
        Reply::json(200, r#"{"access_token":"RESPONSESECRET"}"#),
    ])
    .await;
    let request = http::Request::post(server.url("/api/oauth.v2.access"))
        .header("authorization", "Bearer HEADERSECRET")
        .body(Bytes::from_static(b"refresh_token=xoxe-1-REQUESTSECRET"))
        .unwrap();
    let call = Call::new(
        ProviderId::from_static("slack"),
        "oauth.v2.access",
        Idempotency::Idempotent,
    );
    client()
        .execute(&call, request, classify_status)
        .await
        .unwrap();

    let logs = capture.contents();
    for needle in [
        "oauth_call",
        "provider=slack",
        "operation=\"oauth.v2.access\"",
        "retrying",
        "attempts=3",
        "status=200",
    ] {
        assert!(logs.contains(needle), "{needle:?} missing from:\n{logs}");
    }
    for secret in SECRETS {
        assert!(
            !logs.contains(secret.trim_start_matches("Bearer ")),
            "{secret} leaked:\n{logs}"
        );
    }
}
