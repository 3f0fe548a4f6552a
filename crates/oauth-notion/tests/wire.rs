//! The exact wire form of every request, as the kit's scripted server receives it over loopback:
//! method, path, headers (Basic credentials, content type, Notion-Version, and only what the
//! transport adds) and the JSON body field by field. `sandbox.rs` checks the same against
//! oauth-sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use oauth_core::http::{DEFAULT_USER_AGENT, RetryPolicy};
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, CsrfState, ErrorKind,
    Introspect, RefreshToken, Revoke, Scopes, TokenGrant, TokenProvider,
};
use oauth_notion::{
    CreateTokenRequest, DEFAULT_NOTION_VERSION, EXTERNAL_ACCOUNT, ExternalAccount, NotionClient,
};
use oauth_testkit::{FakeServer, Recorded, Reply};
use serde_json::json;

const CLIENT_ID: &str = "463558a3-725e-4f37-b6d3-0889894f68de";
const SECRET: &str = "secret_client_value";
/// base64("463558a3-725e-4f37-b6d3-0889894f68de:secret_client_value")
const BASIC: &str =
    "Basic NDYzNTU4YTMtNzI1ZS00ZjM3LWI2ZDMtMDg4OTg5NGY2OGRlOnNlY3JldF9jbGllbnRfdmFsdWU=";

const TOKEN_BODY: &str = r#"{"access_token":"ntn_new","token_type":"bearer","refresh_token":"rt_new","bot_id":"b1","workspace_id":"w1","workspace_name":"W","workspace_icon":null,"owner":{"type":"workspace","workspace":true},"duplicated_template_id":null,"request_id":"r1"}"#;

/// A client of a server that answers `status` with `body` (once; `200 {}` after that), never
/// retrying.
async fn client(status: u16, body: &str) -> (NotionClient, FakeServer) {
    let server = FakeServer::start(vec![Reply::json(status, body)]).await;
    let client = NotionClient::builder(CLIENT_ID, SECRET)
        .redirect_uri("https://app.example/notion/callback")
        .base_url(server.url(""))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    (client, server)
}

/// A client that sends nothing (its URLs and checks only).
fn offline_client() -> NotionClient {
    NotionClient::builder(CLIENT_ID, SECRET)
        .redirect_uri("https://app.example/notion/callback")
        .build()
        .unwrap()
}

/// Checks one request completely.
fn check(request: &Recorded, server: &FakeServer, path: &str, body: serde_json::Value) {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, path);
    let mut headers = request.headers.clone();
    headers.sort();
    let host = server.url("").trim_start_matches("http://").to_owned();
    let pair = |name: &str, value: &str| (name.to_owned(), value.to_owned());
    assert_eq!(
        headers,
        vec![
            pair("accept", "*/*"),
            pair("authorization", BASIC),
            pair("content-length", &request.body.len().to_string()),
            pair("content-type", "application/json"),
            pair("host", &host),
            pair("notion-version", DEFAULT_NOTION_VERSION),
            pair("user-agent", DEFAULT_USER_AGENT),
        ],
        "exactly these headers: ours, and what the transport adds"
    );
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent, body, "the body has these fields and nothing else");
    let raw = String::from_utf8_lossy(&request.body);
    assert!(
        !raw.contains(SECRET) && !raw.contains(CLIENT_ID),
        "credentials never go in the body"
    );
}

#[tokio::test]
async fn code_exchange() {
    let (notion, server) = client(200, TOKEN_BODY).await;
    let grant = notion
        .exchange_code(CodeExchange::new(AuthorizationCode::new("code-1")))
        .await
        .unwrap();
    let tokens = grant.tokens_of(&oauth_core::Principal::Bot).unwrap();
    assert_eq!(
        Some(grant.installation.key.key()),
        tokens.grantee.bot_id.as_deref()
    );
    assert_eq!(tokens.access_token.expose_secret(), "ntn_new");
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "rt_new"
    );
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/token",
        json!({"grant_type": "authorization_code", "code": "code-1", "redirect_uri": "https://app.example/notion/callback"}),
    );
}

#[tokio::test]
async fn code_exchange_with_explicit_redirect_and_external_account() {
    let (notion, server) = client(200, TOKEN_BODY).await;
    let exchange = CodeExchange::new(AuthorizationCode::new("code-2"))
        .redirect_uri("https://app.example/other")
        .extra(
            EXTERNAL_ACCOUNT,
            json!({"key": "acct-7", "name": "Ada at Example"}),
        );
    notion.exchange_code(exchange).await.unwrap();
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/token",
        json!({"grant_type": "authorization_code", "code": "code-2", "redirect_uri": "https://app.example/other",
               "external_account": {"key": "acct-7", "name": "Ada at Example"}}),
    );
    // The inherent method says the same.
    let (notion, server) = client(200, TOKEN_BODY).await;
    let account = ExternalAccount {
        key: "k".into(),
        name: "n".into(),
    };
    notion
        .create_token(
            &CreateTokenRequest::new(AuthorizationCode::new("c")).external_account(account),
        )
        .await
        .unwrap();
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/token",
        json!({"grant_type": "authorization_code", "code": "c", "redirect_uri": "https://app.example/notion/callback", "external_account": {"key": "k", "name": "n"}}),
    );
}

#[tokio::test]
async fn code_exchange_without_any_redirect_uri_omits_it() {
    let server = FakeServer::start(vec![Reply::json(200, TOKEN_BODY)]).await;
    let notion = NotionClient::builder(CLIENT_ID, SECRET)
        .base_url(server.url(""))
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    notion
        .exchange_code(CodeExchange::new(AuthorizationCode::new("c")))
        .await
        .unwrap();
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/token",
        json!({"grant_type": "authorization_code", "code": "c"}),
    );
}

#[tokio::test]
async fn refresh() {
    let (notion, server) = client(200, TOKEN_BODY).await;
    let tokens = notion.refresh(&RefreshToken::new("rt_old")).await.unwrap();
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "rt_new",
        "rotated"
    );
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/token",
        json!({"grant_type": "refresh_token", "refresh_token": "rt_old"}),
    );
}

#[tokio::test]
async fn refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let (notion, _server) = client(
        200,
        r#"{"access_token":"ntn_2","token_type":"bearer","refresh_token":null,"bot_id":"b1","workspace_id":"w1"}"#,
    ).await;
    let tokens = notion.refresh(&RefreshToken::new("rt_old")).await.unwrap();
    assert_eq!(
        tokens.refresh_token.as_ref().unwrap().expose_secret(),
        "rt_old"
    );
}

#[tokio::test]
async fn introspect() {
    let (notion, server) = client(
        200,
        r#"{"active":true,"scope":"read_content","iat":1760000000}"#,
    )
    .await;
    let info = notion.introspect(&AccessToken::new("ntn_x")).await.unwrap();
    assert!(info.active);
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/introspect",
        json!({"token": "ntn_x"}),
    );
}

#[tokio::test]
async fn introspect_maps_token_refusals_to_inactive() {
    for body in [
        r#"{"error":"invalid_grant"}"#,
        r#"{"object":"error","status":400,"code":"invalid_grant","message":"revoked"}"#,
    ] {
        let (notion, _server) = client(400, body).await;
        let info = notion.introspect(&AccessToken::new("ntn_x")).await.unwrap();
        assert!(!info.active);
        assert_eq!(info.inactive_reason.as_deref(), Some("invalid_grant"));
    }
    let (notion, _server) = client(401, r#"{"error":"invalid_client"}"#).await;
    let error = notion
        .introspect(&AccessToken::new("ntn_x"))
        .await
        .unwrap_err();
    assert_eq!(
        error.kind(),
        ErrorKind::Configuration,
        "a bad client is an error, not an inactive token"
    );
}

#[tokio::test]
async fn revoke() {
    let (notion, server) = client(200, "{}").await;
    notion.revoke(&AccessToken::new("ntn_x")).await.unwrap();
    check(
        &server.requests()[0],
        &server,
        "/v1/oauth/revoke",
        json!({"token": "ntn_x"}),
    );
}

#[tokio::test]
async fn notion_version_and_base_url_are_configurable() {
    let server = FakeServer::start(vec![]).await;
    let notion = NotionClient::builder(CLIENT_ID, SECRET)
        .base_url(server.url("/proxy"))
        .notion_version("2026-03-11")
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    notion.revoke(&AccessToken::new("t")).await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.path, "/proxy/v1/oauth/revoke");
    assert_eq!(request.header("notion-version"), Some("2026-03-11"));
}

#[test]
fn authorization_url() {
    let notion = offline_client();
    let request = AuthorizationRequest::with_state(CsrfState::new("st-1"));
    let url = notion.authorization_url(&request).unwrap();
    assert_eq!(url.path(), "/v1/oauth/authorize");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = [
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("owner", "user"),
        ("redirect_uri", "https://app.example/notion/callback"),
        ("state", "st-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expected);
    // Through the trait, with an explicit redirect URI.
    let provider: &dyn TokenProvider = &notion;
    let url = provider
        .authorization_url(&request.clone().redirect_uri("https://app.example/x"))
        .unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "redirect_uri" && v == "https://app.example/x")
    );
    assert_eq!(provider.provider_id().as_str(), "notion");
}

#[test]
fn authorization_url_refuses_what_notion_lacks() {
    let notion = offline_client();
    let with_scopes =
        AuthorizationRequest::with_state(CsrfState::new("s")).scopes(Scopes::parse("read"));
    assert_eq!(
        notion.authorization_url(&with_scopes).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    let with_pkce = AuthorizationRequest::with_state(CsrfState::new("s"))
        .with_pkce()
        .unwrap();
    assert_eq!(
        notion.authorization_url(&with_pkce).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}

#[test]
fn configuration_errors() {
    for (id, secret, base) in [
        ("", SECRET, "https://api.notion.com"),
        (CLIENT_ID, "", "https://api.notion.com"),
        ("a:b", SECRET, "https://api.notion.com"),
        (CLIENT_ID, SECRET, "http://api.notion.com"),
        (CLIENT_ID, SECRET, "not a url"),
    ] {
        let error = NotionClient::builder(id, secret)
            .base_url(base)
            .build()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Configuration, "{id:?} {base:?}");
    }
    NotionClient::builder(CLIENT_ID, SECRET)
        .base_url("http://proxy.internal")
        .allow_insecure_http(true)
        .build()
        .unwrap();
}

#[test]
fn client_debug_hides_the_secret() {
    let notion = offline_client();
    let shown = format!("{notion:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains(CLIENT_ID));
}

#[tokio::test]
async fn bad_external_account_is_refused_before_sending() {
    let (notion, server) = client(200, TOKEN_BODY).await;
    let exchange = CodeExchange::new(AuthorizationCode::new("c"))
        .extra(EXTERNAL_ACCOUNT, json!("not an object"));
    assert_eq!(
        notion.exchange_code(exchange).await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    let exchange = CodeExchange::new(AuthorizationCode::new("c"))
        .pkce_verifier(oauth_core::PkceVerifier::generate().unwrap());
    assert_eq!(
        notion.exchange_code(exchange).await.unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
    assert!(server.requests().is_empty());
}
