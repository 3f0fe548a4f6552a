//! At TRACE, through a refused token, its refresh and the resend, and a revocation, no token and
//! no client secret appears in a log line, an error or a `Debug` output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use oauth_client::{ClientError, ManagedAuth};
use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, MemoryTokenStore, Principal, Scopes,
    TokenProvider, TokenStore,
};
use oauth_manager::TokenManager;
use oauth_sandbox::Sandbox;
use oauth_testkit::{LogCapture, assert_no_secret};
use reqwest_middleware::ClientBuilder;

#[tokio::test]
async fn no_secret_in_trace_logs_errors_or_debug() {
    let logs = LogCapture::install();
    let sandbox = Sandbox::builder().start().await.unwrap();
    let base = sandbox.base_url().trim_end_matches('/').to_owned();
    let slack: Arc<dyn TokenProvider> = Arc::new(
        oauth_slack::SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .build()
            .unwrap(),
    );
    let store = Arc::new(MemoryTokenStore::new());
    let manager = TokenManager::builder(slack.clone(), store.clone())
        .build()
        .unwrap();
    let url = slack
        .authorization_url(
            &AuthorizationRequest::new()
                .unwrap()
                .scopes(Scopes::parse("chat:write")),
        )
        .unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    let key = grant.token_key(Principal::Bot);
    let auth = ManagedAuth::new(manager.clone(), key.clone());
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(auth.clone())
        .build();
    let mut secrets = vec![oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET.to_owned()];
    let mut remember = |tokens: &oauth_core::TokenSet| {
        secrets.push(tokens.access_token.expose_secret().to_owned());
        if let Some(refresh) = &tokens.refresh_token {
            secrets.push(refresh.expose_secret().to_owned());
        }
    };
    remember(&store.get(&key).await.unwrap().unwrap().tokens);

    sandbox
        .control()
        .advance_clock(Duration::from_secs(43_200 + 60));
    let ok = client
        .post(format!("{base}/api/chat.postMessage"))
        .send()
        .await
        .unwrap();
    assert!(ok.status().is_success());
    let fresh = store.get(&key).await.unwrap().unwrap().tokens;
    remember(&fresh);
    reqwest::Client::new()
        .post(format!("{base}/api/auth.revoke"))
        .bearer_auth(fresh.access_token.expose_secret())
        .send()
        .await
        .unwrap();
    let error = client
        .post(format!("{base}/api/chat.postMessage"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        ClientError::of(&error),
        Some(ClientError::Revoked { .. })
    ));

    let mut text = logs.contents();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "logging at TRACE ran"
    );
    text.push_str(&format!("{error} {error:?} {auth:?} {client:?}"));
    assert_no_secret(&text, &secrets);
    sandbox.shutdown().await;
}
