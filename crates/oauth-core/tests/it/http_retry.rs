//! The retry policy's decisions, observed over loopback against a scripted server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use oauth_core::http::{
    Attempts, Call, HttpClient, HttpRequest, HttpResponse, HttpTransport, Idempotency,
    ReqwestTransport, RetryPolicy, check_endpoint, classify_status, retry_after,
};
use oauth_core::{Error, ErrorKind, ProviderId, RequestSent, TransportError};

use oauth_testkit::{FakeServer, Reply, closed_port_url};

fn policy() -> RetryPolicy {
    oauth_testkit::fast_retry_policy!()
}

fn transport() -> Arc<ReqwestTransport> {
    Arc::new(
        ReqwestTransport::builder()
            .timeout(Duration::from_millis(400))
            .connect_timeout(Duration::from_millis(400))
            .build()
            .unwrap(),
    )
}

fn client() -> HttpClient {
    HttpClient::new(transport(), policy())
}

fn call(idempotency: Idempotency) -> Call {
    Call::new(ProviderId::from_static("test"), "token", idempotency)
}

fn request(url: &str) -> HttpRequest {
    http::Request::post(url)
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{\"grant_type\":\"refresh_token\"}"))
        .unwrap()
}

async fn run(
    client: &HttpClient,
    idempotency: Idempotency,
    url: &str,
) -> Result<HttpResponse, Error> {
    client
        .execute(&call(idempotency), request(url), classify_status)
        .await
}

#[tokio::test]
async fn idempotent_call_is_retried_through_transient_failures() {
    let server = FakeServer::start(vec![
        Reply::json(503, "{}"),
        Reply::json(502, "{}"),
        Reply::json(200, r#"{"ok":true}"#),
    ])
    .await;
    let response = run(
        &client(),
        Idempotency::Idempotent,
        &server.url("/introspect"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.body().as_ref(), br#"{"ok":true}"#);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(Attempts::of(&response), 3);
    assert_eq!(response.extensions().get::<Attempts>(), Some(&Attempts(3)));
}

/// Futures made outside of any runtime and run later in one: making them needs no runtime
/// (reqwest starts its timers at the first poll, inside the runtime), so nothing panics.
#[test]
fn futures_made_outside_a_runtime_run_in_one_later() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(FakeServer::start(vec![
        Reply::json(200, r#"{"ok":true}"#),
        Reply::json(200, r#"{"ok":true}"#),
    ]));
    let transport = transport();
    let sending = transport.send(request(&server.url("/transport")));
    let client = client();
    let call = call(Idempotency::SingleUse);
    let executing = client.execute(&call, request(&server.url("/client")), classify_status);
    let sent = runtime.block_on(sending).unwrap();
    assert_eq!(sent.body().as_ref(), br#"{"ok":true}"#);
    let executed = runtime.block_on(executing).unwrap();
    assert_eq!(executed.status(), 200);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/transport", "/client"]);
}

#[tokio::test]
async fn a_call_answered_at_once_counts_one_attempt() {
    let server = FakeServer::start(vec![Reply::json(200, r#"{"ok":true}"#)]).await;
    let response = run(&client(), Idempotency::SingleUse, &server.url("/token"))
        .await
        .unwrap();
    assert_eq!(Attempts::of(&response), 1);
    // Nothing is recorded for the usual single attempt.
    assert_eq!(response.extensions().get::<Attempts>(), None);
}

#[tokio::test]
async fn attempts_are_bounded() {
    let server = FakeServer::start(vec![Reply::json(500, "{}"); 5]).await;
    let response = run(
        &client(),
        Idempotency::Idempotent,
        &server.url("/introspect"),
    )
    .await
    .unwrap();
    assert_eq!(
        response.status(),
        500,
        "the last answer is handed to the provider to decode"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn single_use_grant_is_not_resent_after_a_server_error() {
    for status in [500, 502, 503, 504] {
        let server =
            FakeServer::start(vec![Reply::json(status, "{}"), Reply::json(200, "{}")]).await;
        let response = run(&client(), Idempotency::SingleUse, &server.url("/token"))
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(server.requests().len(), 1, "status {status}");
    }
}

#[tokio::test]
async fn rate_limited_single_use_grant_is_resent_after_retry_after() {
    let server = FakeServer::start(vec![
        Reply::json(429, r#"{"ok":false,"error":"ratelimited"}"#).with_header("retry-after", "1"),
        Reply::json(200, r#"{"ok":true}"#),
    ])
    .await;
    let started = Instant::now();
    let response = run(&client(), Idempotency::SingleUse, &server.url("/token"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.requests().len(), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_beyond_the_cap_ends_the_call() {
    let server = FakeServer::start(vec![
        Reply::json(429, "{}").with_header("retry-after", "120"),
    ])
    .await;
    let started = Instant::now();
    let response = run(&client(), Idempotency::Idempotent, &server.url("/token"))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(server.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn dropped_connection_resends_only_idempotent_calls() {
    let server = FakeServer::start(vec![Reply::Drop]).await;
    let error = run(&client(), Idempotency::SingleUse, &server.url("/token"))
        .await
        .unwrap_err();
    match &error {
        Error::Transport { source, .. } => assert_eq!(source.request_sent(), RequestSent::Maybe),
        other => panic!("{other:?}"),
    }
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_eq!(
        server.requests().len(),
        1,
        "a refresh that may have been processed is not resent"
    );

    let server = FakeServer::start(vec![Reply::Drop, Reply::json(200, "{}")]).await;
    let response = run(
        &client(),
        Idempotency::Idempotent,
        &server.url("/introspect"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn timeout_resends_only_idempotent_calls() {
    let slow = || {
        Reply::Delay(
            Duration::from_millis(1500),
            Box::new(Reply::json(200, "{}")),
        )
    };
    let server = FakeServer::start(vec![slow()]).await;
    let started = Instant::now();
    let error = run(&client(), Idempotency::SingleUse, &server.url("/token"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Timeout {
                request_sent: RequestSent::Maybe,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "no hang past the timeout"
    );
    assert_eq!(server.requests().len(), 1);

    let server = FakeServer::start(vec![slow(), Reply::json(200, "{}")]).await;
    let response = run(
        &client(),
        Idempotency::Idempotent,
        &server.url("/introspect"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.requests().len(), 2);
}

/// Counts what goes through to the real transport.
#[derive(Debug)]
struct Counting {
    inner: Arc<ReqwestTransport>,
    sent: AtomicU32,
}

#[async_trait]
impl HttpTransport for Counting {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(request).await
    }
}

#[tokio::test]
async fn connection_refused_is_resent_even_for_single_use_grants() {
    let counting = Arc::new(Counting {
        inner: transport(),
        sent: AtomicU32::new(0),
    });
    let client = HttpClient::new(counting.clone(), policy());
    let error = run(&client, Idempotency::SingleUse, &closed_port_url().await)
        .await
        .unwrap_err();
    match &error {
        Error::Transport { source, .. } => assert_eq!(source.request_sent(), RequestSent::No),
        other => panic!("{other:?}"),
    }
    assert!(error.is_retryable());
    assert_eq!(
        counting.sent.load(Ordering::SeqCst),
        3,
        "nothing reached a server, so resending is safe"
    );
}

#[tokio::test]
async fn oversized_body_is_an_undecodable_response_and_not_retried() {
    let big = vec![b'a'; 2 * 1024 * 1024];
    let server = FakeServer::start(vec![Reply::Respond {
        status: 200,
        headers: vec![],
        body: big,
    }])
    .await;
    let error = run(&client(), Idempotency::Idempotent, &server.url("/token"))
        .await
        .unwrap_err();
    match &error {
        Error::UndecodableResponse(r) => {
            assert_eq!(r.status, 200);
            assert!(r.reason.contains("1048576"), "{}", r.reason);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_body_in_many_pieces_is_gathered_whole_and_still_capped() {
    let pieces: Vec<Vec<u8>> = ["{\"access_token\":", "\"abc\"", ",\"n\":1", "}"]
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    let server = FakeServer::start(vec![
        Reply::Chunked(pieces),
        Reply::Chunked(vec![b"{}".to_vec()]),
        // No length announced: the cap is enforced as the pieces arrive.
        Reply::Chunked(vec![vec![b' '; 700 * 1024], vec![b' '; 700 * 1024]]),
    ])
    .await;
    let client = client();
    let whole = run(&client, Idempotency::SingleUse, &server.url("/a"))
        .await
        .unwrap();
    assert_eq!(whole.body().as_ref(), br#"{"access_token":"abc","n":1}"#);
    let single = run(&client, Idempotency::SingleUse, &server.url("/b"))
        .await
        .unwrap();
    assert_eq!(single.body().as_ref(), b"{}");
    let error = run(&client, Idempotency::SingleUse, &server.url("/a"))
        .await
        .unwrap_err();
    match &error {
        Error::UndecodableResponse(r) => assert!(r.reason.contains("1048576"), "{}", r.reason),
        other => panic!("{other:?}"),
    }
    // One transport, three URLs in turn: each request went where it was addressed.
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/a", "/b", "/a"]);
}

#[tokio::test]
async fn requests_pass_through_unchanged_with_our_user_agent() {
    let server = FakeServer::start(vec![Reply::json(200, "{}")]).await;
    run(
        &client(),
        Idempotency::SingleUse,
        &server.url("/v1/oauth/token"),
    )
    .await
    .unwrap();
    let recorded = &server.requests()[0];
    assert_eq!(recorded.method, "POST");
    assert_eq!(recorded.path, "/v1/oauth/token");
    assert_eq!(recorded.header("content-type"), Some("application/json"));
    assert_eq!(recorded.body, b"{\"grant_type\":\"refresh_token\"}");
    let user_agent = recorded.header("user-agent").unwrap();
    assert!(
        user_agent.starts_with(&format!("oauth-core/{}", env!("CARGO_PKG_VERSION"))),
        "{user_agent}"
    );
}

#[test]
fn plain_http_is_refused_except_on_loopback() {
    let check =
        |url: &str, allow: bool| check_endpoint(&url::Url::parse(url).unwrap(), allow).is_ok();
    assert!(check("https://slack.com/api/", false));
    assert!(check("http://127.0.0.1:8787/", false));
    assert!(check("http://127.8.9.10/", false));
    assert!(check("http://[::1]:80/", false));
    assert!(check("http://localhost:3000/", false));
    assert!(!check("http://api.notion.com/", false));
    assert!(!check("http://10.0.0.1/", false));
    assert!(check("http://proxy.internal/", true));
    assert!(!check("ftp://example.com/", true));
    let error =
        check_endpoint(&url::Url::parse("http://api.notion.com/").unwrap(), false).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(error.to_string().contains("https"), "{error}");
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let headers = |v: &str| {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", v.parse().unwrap());
        h
    };
    assert_eq!(
        retry_after(&headers("30"), now),
        Some(Duration::from_secs(30))
    );
    let date = httpdate::fmt_http_date(now + Duration::from_secs(90));
    assert_eq!(
        retry_after(&headers(&date), now),
        Some(Duration::from_secs(90))
    );
    let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
    assert_eq!(retry_after(&headers(&past), now), Some(Duration::ZERO));
    assert_eq!(retry_after(&headers("soon"), now), None);
    assert_eq!(retry_after(&http::HeaderMap::new(), now), None);
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn mocked_transport_sees_exactly_the_allowed_attempts() {
    use oauth_core::TransportErrorKind;
    use oauth_core::mock::MockHttpTransport;
    let mut transport = MockHttpTransport::new();
    transport.expect_send().times(3).returning(|_| {
        Err(TransportError::new(
            TransportErrorKind::Connect,
            RequestSent::No,
            "refused",
        ))
    });
    let client = HttpClient::new(Arc::new(transport), policy());
    let error = run(&client, Idempotency::SingleUse, "http://127.0.0.1:9/")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
}
