//! Calling Slack with managed tokens, offline: `cargo run -p oauth-client --example slack`.
//!
//! An embedded sandbox stands in for Slack. The app installs (what the install flow does), keeps
//! the tokens in SQLite, then calls `chat.postMessage` through a client whose requests carry
//! the installation's token. When Slack refuses the token as expired (its clock ran ahead of
//! ours), the client refreshes it once and sends the call again.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use oauth_client::{ManagedAuth, reqwest_middleware::ClientBuilder};
use oauth_core::{AuthorizationCode, AuthorizationRequest, CodeExchange, Scopes, TokenProvider};
use oauth_manager::TokenManager;
use oauth_sandbox::Sandbox;
use oauth_slack::{SlackAuthorizationRequest as _, SlackClient};
use oauth_store::SqliteTokenStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let api = format!("{}/api/", sandbox.base_url().trim_end_matches('/'));
    let slack = Arc::new(
        SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(api.clone())
            .authorize_base_url(sandbox.base_url())
            .build()?,
    );
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteTokenStore::open(dir.path().join("tokens.sqlite3")).await?);
    let manager = TokenManager::builder(slack.clone(), store).build()?;

    // Install with a bot scope and a user scope (the sandbox consents at once).
    let request = AuthorizationRequest::new()?
        .scopes(Scopes::parse("chat:write"))
        .user_scopes(&Scopes::parse("search:read"));
    let url = slack.authorization_url(&request)?;
    let code = sandbox
        .control()
        .authorize_code(url.as_str())
        .ok_or("the sandbox gave no code")?;
    manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await?;

    // One client for every installation: each request names its token set.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::per_request(manager.clone()))
        .build();
    for round in ["now", "after Slack's clock passed the tokens' lifetime"] {
        for key in manager.list().await? {
            let answer: serde_json::Value = client
                .post(format!("{api}chat.postMessage"))
                .with_extension(key.clone())
                .form(&[("channel", "C0123"), ("text", "hello")])
                .send()
                .await?
                .json()
                .await?;
            println!("{round}: {key}: chat.postMessage → {answer}");
        }
        sandbox
            .control()
            .advance_clock(Duration::from_secs(43_200 + 60));
    }
    let refreshes = sandbox
        .control()
        .counters()
        .op("slack.oauth.v2.access.refresh_token");
    println!("refresh grants: {refreshes} (one per token set)");
    sandbox.shutdown().await;
    Ok(())
}
