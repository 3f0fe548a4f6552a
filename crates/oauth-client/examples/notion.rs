//! Calling Notion with a managed token, offline: `cargo run -p oauth-client --example notion`.
//!
//! An embedded sandbox stands in for Notion. The integration is installed, its tokens kept in
//! SQLite; `GET /v1/users/me` goes through a client whose requests carry the token. When another
//! replica rotates the tokens behind this one's back, Notion answers `401`: the client picks up
//! the new token and sends the call again.
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use oauth_client::{ManagedAuth, reqwest_middleware::ClientBuilder};
use oauth_core::{AuthorizationCode, AuthorizationRequest, CodeExchange, Principal, TokenProvider};
use oauth_manager::TokenManager;
use oauth_notion::NotionClient;
use oauth_sandbox::Sandbox;
use oauth_store::SqliteTokenStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::builder().start().await?;
    let notion = Arc::new(
        NotionClient::builder(
            oauth_sandbox::DEFAULT_NOTION_CLIENT_ID,
            oauth_sandbox::DEFAULT_NOTION_CLIENT_SECRET,
        )
        .base_url(sandbox.base_url())
        .redirect_uri(oauth_sandbox::DEFAULT_NOTION_REDIRECT_URIS[0])
        .build()?,
    );
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tokens.sqlite3");
    let store = Arc::new(SqliteTokenStore::open(&path).await?);
    let manager = TokenManager::builder(notion.clone(), store).build()?;
    let url = notion.authorization_url(&AuthorizationRequest::new()?)?;
    let code = sandbox
        .control()
        .authorize_code(url.as_str())
        .ok_or("the sandbox gave no code")?;
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await?;
    let key = grant.token_key(Principal::Bot);

    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::new(manager.clone(), key.clone()))
        .build();
    let me = format!("{}/v1/users/me", sandbox.base_url().trim_end_matches('/'));
    let bot: serde_json::Value = client
        .get(&me)
        .header("notion-version", "2022-06-28")
        .send()
        .await?
        .json()
        .await?;
    println!("{key}: users/me → {} bot {}", bot["object"], bot["id"]);

    // Another replica (a second manager on the same store) rotates the tokens.
    let other = TokenManager::builder(
        notion.clone(),
        Arc::new(SqliteTokenStore::open(&path).await?),
    )
    .holder_id("replica-b")
    .build()?;
    other.force_refresh(&key).await?;
    let status = client
        .get(&me)
        .header("notion-version", "2022-06-28")
        .send()
        .await?
        .status();
    println!("after a rotation elsewhere: users/me → {status} (the 401 was met and recovered)");
    let calls = sandbox.control().counters().op("notion.users.me");
    println!("users/me calls: {calls} (ok, 401, ok)");
    sandbox.shutdown().await;
    Ok(())
}
