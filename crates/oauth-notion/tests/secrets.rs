//! No secret (client secret, code, access or refresh token, the Basic credential) appears in any
//! `Debug` output, error message or tracing line (at TRACE, from every crate but the sandbox itself)
//! of a full exchange → introspect → refresh → revoke run, failures included.
//!
//! A test binary of its own: the subscriber is global (tracing's callsite cache would miss events
//! of a thread-local one while other tests run in parallel).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use base64::Engine as _;
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, Introspect, Revoke,
    TokenGrant,
};
use oauth_notion::{CreateTokenRequest, NotionClient};
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, Fault, FaultKind, Sandbox,
};
use oauth_testkit::{LogCapture, assert_no_secret};

#[tokio::test]
async fn no_secret_in_debug_errors_or_traces() {
    let capture = LogCapture::install();

    let sandbox = Sandbox::builder().start().await.unwrap();
    let notion = NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
        .base_url(sandbox.base_url())
        .redirect_uri("http://127.0.0.1/callback/notion")
        .build()
        .unwrap();
    let mut secrets = vec![
        DEFAULT_NOTION_CLIENT_SECRET.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{DEFAULT_NOTION_CLIENT_ID}:{DEFAULT_NOTION_CLIENT_SECRET}"
        )),
    ];
    let mut shown = vec![format!("{notion:?}")];

    let request = AuthorizationRequest::new().unwrap();
    let url = notion.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    secrets.push(code.clone());
    let exchange = CodeExchange::new(AuthorizationCode::new(code.clone()));
    shown.push(format!("{exchange:?}"));
    let grant = notion.exchange_code(exchange).await.unwrap();
    shown.push(format!("{grant:?}"));
    let tokens = grant
        .tokens_of(&oauth_core::Principal::Bot)
        .unwrap()
        .clone();
    secrets.push(tokens.access_token.expose_secret().to_owned());
    secrets.push(
        tokens
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    shown.push(format!("{tokens:?} {tokens:#?}"));

    let info = notion.introspect(&tokens.access_token).await.unwrap();
    shown.push(format!("{info:?}"));
    let rotated = notion
        .refresh(tokens.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    secrets.push(rotated.access_token.expose_secret().to_owned());
    secrets.push(
        rotated
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    );
    shown.push(format!("{rotated:?}"));
    let raw = notion
        .create_token(&CreateTokenRequest::new(AuthorizationCode::new(
            code.clone(),
        )))
        .await
        .unwrap_err();
    shown.push(format!("{raw} {raw:?}"));
    notion.revoke(&rotated.access_token).await.unwrap();

    // Failures: a spent refresh token, a reused code, a wrong client secret, faults with bodies.
    for error in [
        notion
            .refresh(tokens.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err(),
        notion
            .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
            .await
            .unwrap_err(),
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, "secret_WRONGCLIENTSECRET")
            .base_url(sandbox.base_url())
            .build()
            .unwrap()
            .introspect(&AccessToken::new("x"))
            .await
            .unwrap_err(),
    ] {
        shown.push(format!("{error} {error:?}"));
    }
    secrets.push("secret_WRONGCLIENTSECRET".to_owned());
    for fault in [
        FaultKind::TruncatedJson,
        FaultKind::Oversized,
        FaultKind::Html502,
    ] {
        let tokens = notion
            .exchange_code(CodeExchange::new(AuthorizationCode::new(
                sandbox.control().authorize_code(url.as_str()).unwrap(),
            )))
            .await
            .unwrap()
            .tokens_of(&oauth_core::Principal::Bot)
            .cloned()
            .unwrap();
        secrets.push(
            tokens
                .refresh_token
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_owned(),
        );
        sandbox
            .control()
            .inject_fault(Fault::new("/v1/oauth/token", fault));
        let error = notion
            .refresh(tokens.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err();
        shown.push(format!("{error} {error:?}"));
    }

    let logs = capture.contents();
    let ours: Vec<&str> = logs
        .lines()
        .filter(|l| !l.contains(" oauth_sandbox"))
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("oauth_call")),
        "tracing was captured:\n{logs}"
    );
    let everything = format!("{}\n{}", ours.join("\n"), shown.join("\n"));
    assert_no_secret(&everything, &secrets);
    sandbox.shutdown().await;
}
