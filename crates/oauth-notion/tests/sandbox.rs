//! Every operation and error case against oauth-sandbox over loopback HTTP, with the wire form of
//! each request checked in the sandbox's request log, and the sandbox's counters as the judge of
//! how many grants were sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use oauth_core::http::{HttpClient, ReqwestTransport, RetryPolicy};
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, Error, ErrorKind,
    Introspect, RefreshToken, Revoke, TokenGrant, TokenProvider,
};
use oauth_notion::{ErrorShape, NotionClient, NotionError, NotionErrorCode};
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, Fault, FaultKind,
    NotionGrantErrorStyle, RecordedRequest, Sandbox, SandboxHandle,
};
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1/callback/notion";

/// The one token set a Notion grant holds: its bot's, keyed by the bot id.
fn bot_tokens(grant: oauth_core::Grant) -> oauth_core::TokenSet {
    assert_eq!(grant.tokens.len(), 1);
    let bot = grant
        .tokens_of(&oauth_core::Principal::Bot)
        .unwrap()
        .clone();
    assert_eq!(
        Some(grant.installation.key.key()),
        bot.grantee.bot_id.as_deref(),
        "a Notion installation is keyed by its bot id"
    );
    bot
}

fn policy() -> RetryPolicy {
    oauth_testkit::fast_retry_policy!()
}

fn client_with(sandbox: &SandboxHandle, secret: &str, version: Option<&str>) -> NotionClient {
    let transport = ReqwestTransport::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let mut builder = NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, secret)
        .base_url(sandbox.base_url())
        .redirect_uri(REDIRECT)
        .http_client(HttpClient::new(Arc::new(transport), policy()));
    if let Some(version) = version {
        builder = builder.notion_version(version);
    }
    builder.build().unwrap()
}

fn client(sandbox: &SandboxHandle) -> NotionClient {
    client_with(sandbox, DEFAULT_NOTION_CLIENT_SECRET, None)
}

/// Plays the browser: the authorization URL from our client, the sandbox's consent, the code.
fn authorize(sandbox: &SandboxHandle, notion: &NotionClient) -> AuthorizationCode {
    let request = AuthorizationRequest::new().unwrap();
    let url = notion.authorization_url(&request).unwrap();
    let outcome = sandbox.control().authorize(url.as_str()).unwrap();
    assert_eq!(outcome.state.as_deref(), Some(request.state().as_str()));
    AuthorizationCode::new(outcome.code.expect("consent gives a code"))
}

fn last(sandbox: &SandboxHandle, path: &str) -> RecordedRequest {
    sandbox
        .control()
        .requests_to(path)
        .pop()
        .expect("a recorded request")
}

/// The wire form of a Notion OAuth call: POST, JSON, Basic credentials, Notion-Version, the body
/// exactly `body`.
fn check_wire(request: &RecordedRequest, path: &str, body: serde_json::Value) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    assert_eq!(request.query.as_deref().unwrap_or(""), "");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{DEFAULT_NOTION_CLIENT_ID}:{DEFAULT_NOTION_CLIENT_SECRET}"
    ));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(request.header("notion-version"), Some("2025-09-03"));
    assert_eq!(request.json(), Some(body), "body fields, and nothing else");
}

fn notion_error(error: &Error) -> &NotionError {
    error
        .provider_error()
        .and_then(|e| e.downcast_ref::<NotionError>())
        .unwrap_or_else(|| panic!("not a Notion error: {error:?}"))
}

#[tokio::test]
async fn the_whole_lifecycle_on_the_wire() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let notion = client(&sandbox);

    let code = authorize(&sandbox, &notion);
    let tokens = notion
        .exchange_code(CodeExchange::new(code.clone()))
        .await
        .map(bot_tokens)
        .unwrap();
    check_wire(
        &last(&sandbox, "/v1/oauth/token"),
        "/v1/oauth/token",
        json!({"grant_type": "authorization_code", "code": code.expose_secret(), "redirect_uri": REDIRECT}),
    );
    assert!(tokens.grantee.workspace_id.is_some() && tokens.grantee.bot_id.is_some());
    assert!(
        tokens.grantee.user_id.is_some(),
        "owner user mapped into the grantee"
    );
    let first_refresh = tokens.refresh_token.clone().expect("a refresh token");

    let info = notion.introspect(&tokens.access_token).await.unwrap();
    assert!(info.active);
    assert!(info.issued_at.is_some());
    check_wire(
        &last(&sandbox, "/v1/oauth/introspect"),
        "/v1/oauth/introspect",
        json!({"token": tokens.access_token.expose_secret()}),
    );

    let rotated = notion.refresh(&first_refresh).await.unwrap();
    check_wire(
        &last(&sandbox, "/v1/oauth/token"),
        "/v1/oauth/token",
        json!({"grant_type": "refresh_token", "refresh_token": first_refresh.expose_secret()}),
    );
    assert_ne!(rotated.access_token, tokens.access_token);
    assert_ne!(
        rotated.refresh_token.as_ref(),
        Some(&first_refresh),
        "the refresh token rotated"
    );
    assert_eq!(
        sandbox
            .control()
            .counters()
            .app_op(DEFAULT_NOTION_CLIENT_ID, "notion.token.refresh_token"),
        1
    );

    notion.revoke(&rotated.access_token).await.unwrap();
    check_wire(
        &last(&sandbox, "/v1/oauth/revoke"),
        "/v1/oauth/revoke",
        json!({"token": rotated.access_token.expose_secret()}),
    );
    let info = notion.introspect(&rotated.access_token).await.unwrap();
    assert!(!info.active, "revoked");
    assert_eq!(notion.provider_id().as_str(), "notion");
}

#[tokio::test]
async fn grant_errors() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let notion = client(&sandbox);

    // A code is single-use.
    let code = authorize(&sandbox, &notion);
    notion
        .exchange_code(CodeExchange::new(code.clone()))
        .await
        .unwrap();
    let error = notion
        .exchange_code(CodeExchange::new(code))
        .await
        .unwrap_err();
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::InvalidGrant);
    assert_eq!(notion_error(&error).shape(), ErrorShape::OAuth);
    assert_eq!(error.kind(), ErrorKind::ReauthorizationRequired);
    assert!(
        oauth_core::ProviderError::request_id(notion_error(&error)).is_some(),
        "request id kept"
    );

    // Another redirect URI than the authorization's.
    let code = authorize(&sandbox, &notion);
    let error = notion
        .exchange_code(
            CodeExchange::new(code).redirect_uri("https://example.com/auth/notion/callback"),
        )
        .await
        .unwrap_err();
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::InvalidGrant);

    // An expired code (10 minutes).
    let code = authorize(&sandbox, &notion);
    sandbox.control().advance_clock(Duration::from_secs(601));
    let error = notion
        .exchange_code(CodeExchange::new(code))
        .await
        .unwrap_err();
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::InvalidGrant);

    // A spent refresh token.
    let tokens = notion
        .exchange_code(CodeExchange::new(authorize(&sandbox, &notion)))
        .await
        .map(bot_tokens)
        .unwrap();
    let refresh = tokens.refresh_token.unwrap();
    notion.refresh(&refresh).await.unwrap();
    let error = notion.refresh(&refresh).await.unwrap_err();
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::InvalidGrant);
    assert!(error.needs_reauthorization());
    let error = notion
        .refresh(&RefreshToken::new("never-issued"))
        .await
        .unwrap_err();
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::InvalidGrant);
}

#[tokio::test]
async fn the_envelope_error_shape_is_read_too() {
    let sandbox = Sandbox::builder()
        .notion_grant_error_style(NotionGrantErrorStyle::Envelope)
        .start()
        .await
        .unwrap();
    let notion = client(&sandbox);
    let error = notion
        .refresh(&RefreshToken::new("never-issued"))
        .await
        .unwrap_err();
    let notion_error = notion_error(&error);
    assert_eq!(notion_error.code(), &NotionErrorCode::InvalidGrant);
    assert_eq!(notion_error.shape(), ErrorShape::Envelope);
    assert!(notion_error.message().is_some());
}

#[tokio::test]
async fn client_and_version_errors() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let wrong = client_with(&sandbox, "secret_wrong", None);
    let error = wrong.introspect(&AccessToken::new("x")).await.unwrap_err();
    let e = notion_error(&error);
    assert_eq!(e.code(), &NotionErrorCode::InvalidClient);
    assert_eq!(e.status().as_u16(), 401);
    assert_eq!(e.www_authenticate(), Some("Basic realm=\"OAuth\""));
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(!error.to_string().contains("secret_wrong"));

    let old = client_with(&sandbox, DEFAULT_NOTION_CLIENT_SECRET, Some("1999-01-01"));
    let error = old.revoke(&AccessToken::new("x")).await.unwrap_err();
    assert_eq!(
        notion_error(&error).code(),
        &NotionErrorCode::MissingVersion
    );
    assert_eq!(error.kind(), ErrorKind::Configuration);

    // The versions the SDK and the latest docs use are both accepted.
    let newer = client_with(&sandbox, DEFAULT_NOTION_CLIENT_SECRET, Some("2026-03-11"));
    assert!(
        !newer
            .introspect(&AccessToken::new("unknown"))
            .await
            .unwrap()
            .active
    );
}

/// One row of the fault matrix: the fault on `path`, what the call returns, how many requests
/// reached the sandbox.
#[tokio::test]
async fn faults() {
    #[derive(Debug, Clone, Copy)]
    enum Op {
        Refresh,
        Introspect,
    }
    #[derive(Debug)]
    enum Expect {
        Ok,
        Kind(ErrorKind),
        Undecodable(u16),
        Code(&'static str),
    }
    let cases: Vec<(Op, FaultKind, u32, Expect, usize)> = vec![
        // 429 is not processed: resent after Retry-After even for a refresh.
        (
            Op::Refresh,
            FaultKind::RateLimited {
                retry_after_secs: 1,
            },
            1,
            Expect::Ok,
            2,
        ),
        // Retry-After beyond the policy's cap: the rate-limited error, with its delay.
        (
            Op::Refresh,
            FaultKind::RateLimited {
                retry_after_secs: 30,
            },
            1,
            Expect::Kind(ErrorKind::RateLimited),
            1,
        ),
        // 5xx: the refresh may have been processed, so it is not resent; introspection is.
        (
            Op::Refresh,
            FaultKind::Status { status: 503 },
            1,
            Expect::Kind(ErrorKind::Retryable),
            1,
        ),
        (
            Op::Introspect,
            FaultKind::Status { status: 503 },
            1,
            Expect::Ok,
            2,
        ),
        (
            Op::Introspect,
            FaultKind::Status { status: 500 },
            5,
            Expect::Kind(ErrorKind::Retryable),
            3,
        ),
        // 529 service_overload is a rate limit.
        (
            Op::Refresh,
            FaultKind::Status { status: 529 },
            1,
            Expect::Ok,
            2,
        ),
        // An HTML page from a proxy: undecodable with its status.
        (
            Op::Refresh,
            FaultKind::Html502,
            1,
            Expect::Undecodable(502),
            1,
        ),
        (Op::Introspect, FaultKind::Html502, 1, Expect::Ok, 2),
        (
            Op::Refresh,
            FaultKind::TruncatedJson,
            1,
            Expect::Undecodable(200),
            1,
        ),
        (
            Op::Refresh,
            FaultKind::Oversized,
            1,
            Expect::Undecodable(200),
            1,
        ),
        // JSON served as text/html is still Notion's JSON.
        (Op::Refresh, FaultKind::WrongContentType, 1, Expect::Ok, 1),
        (
            Op::Refresh,
            FaultKind::UnknownErrorCode,
            1,
            Expect::Code("sandbox_undocumented_error"),
            1,
        ),
        // A dropped connection: a refresh is not resent, an introspection is.
        (
            Op::Refresh,
            FaultKind::DropBeforeProcessing,
            1,
            Expect::Kind(ErrorKind::Transport),
            1,
        ),
        (
            Op::Introspect,
            FaultKind::DropAfterProcessing,
            1,
            Expect::Ok,
            2,
        ),
        // Beyond the 800 ms timeout: a timeout, not resent for a refresh.
        (
            Op::Refresh,
            FaultKind::Delay { millis: 2_000 },
            1,
            Expect::Kind(ErrorKind::Timeout),
            1,
        ),
    ];
    for (op, fault, times, expect, requests) in cases {
        let sandbox = Sandbox::builder().start().await.unwrap();
        let notion = client(&sandbox);
        let tokens = notion
            .exchange_code(CodeExchange::new(authorize(&sandbox, &notion)))
            .await
            .map(bot_tokens)
            .unwrap();
        let path = match op {
            Op::Refresh => "/v1/oauth/token",
            Op::Introspect => "/v1/oauth/introspect",
        };
        sandbox.control().clear_requests();
        sandbox
            .control()
            .inject_fault(Fault::new(path, fault.clone()).times(times));
        let started = std::time::Instant::now();
        let result = match op {
            Op::Refresh => notion
                .refresh(tokens.refresh_token.as_ref().unwrap())
                .await
                .map(|_| ()),
            Op::Introspect => notion.introspect(&tokens.access_token).await.map(|_| ()),
        };
        let what = format!("{op:?} under {fault:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: took {:?}",
            started.elapsed()
        );
        match (&expect, &result) {
            (Expect::Ok, Ok(())) => {}
            (Expect::Kind(kind), Err(error)) => assert_eq!(error.kind(), *kind, "{what}: {error}"),
            (Expect::Undecodable(status), Err(Error::UndecodableResponse(r))) => {
                assert_eq!(r.status.as_u16(), *status, "{what}")
            }
            (Expect::Code(code), Err(error)) => {
                assert_eq!(notion_error(error).code().as_str(), *code, "{what}")
            }
            _ => panic!("{what}: expected {expect:?}, got {result:?}"),
        }
        if let FaultKind::Delay { millis } = fault {
            // The sandbox logs a request when it answers: wait for the delayed answer.
            tokio::time::sleep(
                Duration::from_millis(millis + 200).saturating_sub(started.elapsed()),
            )
            .await;
        }
        assert_eq!(
            sandbox.control().requests_to(path).len(),
            requests,
            "{what}: requests that reached the sandbox"
        );
    }
}

#[tokio::test]
async fn rate_limited_errors_carry_retry_after() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let notion = client(&sandbox);
    sandbox.control().inject_fault(Fault::new(
        "/v1/oauth/revoke",
        FaultKind::RateLimited {
            retry_after_secs: 30,
        },
    ));
    let error = notion.revoke(&AccessToken::new("x")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(notion_error(&error).code(), &NotionErrorCode::RateLimited);
}

#[tokio::test]
async fn a_lost_refresh_response_is_reported_and_not_resent() {
    // Notion (sandbox choice, no grace period): the refresh token is spent once the sandbox
    // processed the request, so the caller learns of the lost response as a transport error and
    // the next refresh with the same token is refused.
    let sandbox = Sandbox::builder().start().await.unwrap();
    let notion = client(&sandbox);
    let tokens = notion
        .exchange_code(CodeExchange::new(authorize(&sandbox, &notion)))
        .await
        .map(bot_tokens)
        .unwrap();
    sandbox.control().inject_fault(Fault::new(
        "/v1/oauth/token",
        FaultKind::DropAfterProcessing,
    ));
    let error = notion
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Transport);
    assert_eq!(
        sandbox
            .control()
            .counters()
            .app_op(DEFAULT_NOTION_CLIENT_ID, "notion.token.refresh_token"),
        1,
        "sent once"
    );
    let error = notion
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(error.needs_reauthorization());
}
