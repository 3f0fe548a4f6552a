//! The secret-leak scan across the whole stack, both providers: install (code exchange), store
//! (SQLite, encrypted), cached token, refresh with rotation, introspection, refusals, revoke and
//! delete, with tracing at TRACE from every crate but the sandbox itself. No client secret, code,
//! access or refresh token appears in any log line, `Debug` output or error message.
//!
//! A test binary of its own: the subscriber is global.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, Introspect, ManualClock, RefreshToken,
    Scopes, TokenGrant, TokenProvider, TokenStore,
};
use oauth_manager::TokenManager;
use oauth_notion::NotionClient;
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_SECRET, Sandbox,
    SandboxHandle,
};
use oauth_store::{Encryption, EncryptionKey, SqliteTokenStore};
use oauth_testkit::{LogCapture, assert_no_secret};

fn code(sandbox: &SandboxHandle, provider: &dyn TokenProvider, scopes: &str) -> String {
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse(scopes));
    let url = provider.authorization_url(&request).unwrap();
    sandbox.control().authorize_code(url.as_str()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_anywhere_in_a_full_run_of_both_providers() {
    let capture = LogCapture::install();

    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(
        SqliteTokenStore::open_with(
            dir.path().join("t.sqlite3"),
            Some(Encryption::new(EncryptionKey::new("k1", [9; 32]))),
        )
        .await
        .unwrap(),
    );
    let base = sandbox.base_url().to_owned();
    let notion: Arc<dyn TokenProvider> = Arc::new(
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
            .base_url(base.clone())
            .redirect_uri(oauth_sandbox::DEFAULT_NOTION_REDIRECT_URIS[0])
            .build()
            .unwrap(),
    );
    let slack = oauth_itest::slack_client(&base).unwrap();
    let mut secrets: Vec<String> = vec![
        DEFAULT_NOTION_CLIENT_SECRET.into(),
        DEFAULT_SLACK_CLIENT_SECRET.into(),
    ];
    let mut shown: Vec<String> = vec![format!("{store:?} {notion:?} {slack:?}")];

    for (provider, scopes) in [(notion, ""), (slack, "chat:write,commands")] {
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let manager = TokenManager::builder(provider.clone(), store.clone())
            .clock(clock.clone())
            .build()
            .unwrap();
        shown.push(format!("{manager:?}"));

        let code = code(&sandbox, provider.as_ref(), scopes);
        secrets.push(code.clone());
        let grant = manager
            .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code.clone())))
            .await
            .unwrap();
        for granted in &grant.tokens {
            let tokens = &granted.tokens;
            secrets.push(tokens.access_token.expose_secret().to_owned());
            secrets.extend(
                tokens
                    .refresh_token
                    .iter()
                    .map(|t| t.expose_secret().to_owned()),
            );
        }
        for (_, secret) in grant.installation.secrets.iter() {
            secrets.push(secret.expose_secret().to_owned());
        }
        let key = grant.token_key(grant.primary().unwrap().principal.clone());
        shown.push(format!(
            "{grant:?} {:?} {:?}",
            store.get(&key).await.unwrap(),
            store.installation(&grant.installation.key).await.unwrap()
        ));

        let cached = manager.access_token(&key).await.unwrap();
        shown.push(format!("{cached:?}"));
        let rotated = manager.force_refresh(&key).await.unwrap();
        secrets.push(rotated.access_token.expose_secret().to_owned());
        secrets.extend(
            rotated
                .refresh_token
                .iter()
                .map(|t| t.expose_secret().to_owned()),
        );
        shown.push(format!("{rotated:#?}"));
        clock.advance(Duration::from_secs(50_000));
        let _ = manager.access_token(&key).await;
        if let Some(latest) = store.get(&key).await.unwrap() {
            secrets.push(latest.tokens.access_token.expose_secret().to_owned());
            secrets.extend(
                latest
                    .tokens
                    .refresh_token
                    .iter()
                    .map(|t| t.expose_secret().to_owned()),
            );
        }
        let info = provider.introspect(&rotated.access_token).await.unwrap();
        shown.push(format!("{info:?}"));

        // Refusals: a reused code, a spent refresh token, a made-up one.
        for error in [
            provider
                .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
                .await
                .unwrap_err(),
            provider
                .refresh(
                    grant
                        .primary()
                        .unwrap()
                        .tokens
                        .refresh_token
                        .as_ref()
                        .unwrap(),
                )
                .await
                .map(|_| ())
                .err()
                .unwrap_or_else(|| oauth_core::Error::Internal("grace".into())),
            provider
                .refresh(&RefreshToken::new("never-issued-refresh-token"))
                .await
                .unwrap_err(),
        ] {
            shown.push(format!("{error} {error:?}"));
        }
        manager.revoke_and_delete(&key).await.unwrap();
        shown.push(format!(
            "{:?}",
            manager.access_token(&key).await.unwrap_err()
        ));
    }

    let logs = capture.contents();
    let ours: Vec<&str> = logs
        .lines()
        .filter(|l| !l.contains(" oauth_sandbox"))
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("oauth_call") && l.contains("slack")),
        "Slack calls were traced"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("oauth_call") && l.contains("notion")),
        "Notion calls were traced"
    );
    assert!(
        ours.iter().any(|l| l.contains("tokens refreshed")),
        "manager events were traced"
    );
    let everything = format!("{}\n{}", ours.join("\n"), shown.join("\n"));
    assert!(secrets.len() >= 14, "{} secrets collected", secrets.len());
    assert_no_secret(&everything, &secrets);
    sandbox.shutdown().await;
}
