//! The apps both client tests use: the sandbox's default Slack app and Notion integration,
//! installed, with a token manager over a memory store.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, MemoryTokenStore, Principal, Scopes,
    TokenKey, TokenProvider,
};
use oauth_manager::TokenManager;
use oauth_sandbox::SandboxHandle;

pub(crate) const SLACK_REFRESH: &str = "slack.oauth.v2.access.refresh_token";

pub(crate) fn op(sandbox: &SandboxHandle, name: &str) -> u64 {
    sandbox.control().counters().op(name)
}

pub(crate) struct App {
    pub(crate) store: Arc<MemoryTokenStore>,
    pub(crate) manager: TokenManager,
    pub(crate) key: TokenKey,
    pub(crate) api: String,
}

/// The default Slack app installed with a bot scope; its bot token set's key.
pub(crate) async fn slack_app(sandbox: &SandboxHandle) -> App {
    let base = sandbox.base_url().trim_end_matches('/').to_owned();
    let slack: Arc<dyn TokenProvider> = Arc::new(
        oauth_slack::SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .retry_policy(oauth_testkit::fast_retry_policy!())
            .build()
            .unwrap(),
    );
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("chat:write"));
    install(sandbox, slack, request, format!("{base}/api/")).await
}

/// The default Notion integration, installed.
pub(crate) async fn notion_app(sandbox: &SandboxHandle) -> App {
    let base = sandbox.base_url().trim_end_matches('/').to_owned();
    let notion: Arc<dyn TokenProvider> = Arc::new(
        oauth_notion::NotionClient::builder(
            oauth_sandbox::DEFAULT_NOTION_CLIENT_ID,
            oauth_sandbox::DEFAULT_NOTION_CLIENT_SECRET,
        )
        .base_url(sandbox.base_url())
        .redirect_uri(oauth_sandbox::DEFAULT_NOTION_REDIRECT_URIS[0])
        .build()
        .unwrap(),
    );
    let request = AuthorizationRequest::new().unwrap();
    install(sandbox, notion, request, format!("{base}/v1/")).await
}

pub(crate) async fn install(
    sandbox: &SandboxHandle,
    provider: Arc<dyn TokenProvider>,
    request: AuthorizationRequest,
    api: String,
) -> App {
    let store = Arc::new(MemoryTokenStore::new());
    let manager = TokenManager::builder(provider.clone(), store.clone())
        .build()
        .unwrap();
    let url = provider.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    let key = grant.token_key(Principal::Bot);
    App {
        store,
        manager,
        key,
        api,
    }
}
