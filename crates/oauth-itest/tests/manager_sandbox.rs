//! The token manager against oauth-sandbox over HTTP: the sandbox's refresh counter is the judge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, ManualClock, MemoryTokenStore,
    TokenGrant, TokenProvider,
};
use oauth_manager::TokenManager;
use oauth_notion::NotionClient;
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, Sandbox, SandboxHandle,
};

fn notion(sandbox: &SandboxHandle) -> Arc<NotionClient> {
    Arc::new(
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
            .base_url(sandbox.base_url())
            .redirect_uri("http://127.0.0.1/callback/notion")
            .build()
            .unwrap(),
    )
}

fn code(sandbox: &SandboxHandle, provider: &dyn TokenProvider) -> AuthorizationCode {
    let url = provider
        .authorization_url(&AuthorizationRequest::new().unwrap())
        .unwrap();
    AuthorizationCode::new(sandbox.control().authorize_code(url.as_str()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_callers_on_an_expiring_notion_token_make_one_refresh_grant() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let provider = notion(&sandbox);
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let manager = TokenManager::builder(provider.clone(), Arc::new(MemoryTokenStore::new()))
        .clock(clock.clone())
        .build()
        .unwrap();
    // Notion sends no expires_in: give the installation an expiry, as an app that learned it
    // elsewhere would, so that it is "expiring".
    let mut grant = provider
        .exchange_code(CodeExchange::new(code(&sandbox, provider.as_ref())))
        .await
        .unwrap();
    let tokens = &mut grant.tokens[0].tokens;
    tokens.expires_at = Some(SystemTime::now() + Duration::from_secs(60));
    let old = tokens.access_token.clone();
    let key = manager.save_grant(&grant).await.unwrap().remove(0);
    clock.advance(Duration::from_secs(120));

    let mut tasks = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let (manager, key) = (manager.clone(), key.clone());
        tasks.push(tokio::spawn(
            async move { manager.access_token(&key).await },
        ));
    }
    let mut first = None;
    for task in tasks {
        let token = task.await.unwrap().unwrap();
        assert_ne!(token, old, "every caller gets the new token");
        assert_eq!(
            first.get_or_insert_with(|| token.clone()),
            &token,
            "the same new token"
        );
    }
    let counters = sandbox.control().counters();
    assert_eq!(
        counters.app_op(DEFAULT_NOTION_CLIENT_ID, "notion.token.refresh_token"),
        1,
        "exactly one refresh grant"
    );
    sandbox.shutdown().await;
}
