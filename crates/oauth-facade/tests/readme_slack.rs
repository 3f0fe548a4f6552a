//! The README's Slack example, compiled and run as it is written there (keep the two identical:
//! `xtask/src/tidy.rs` checks it).
#![allow(clippy::unwrap_used, missing_docs)]

use oauth_facade::client::{ManagedAuth, reqwest_middleware::ClientBuilder};
use oauth_facade::sandbox::Sandbox;
use oauth_facade::slack::{SlackContext, authorize};
use oauth_facade::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, MemoryTokenStore,
    Principal, ProviderConfig, ProviderKind, Scopes, TokenManager, TokenProvider,
};
use std::sync::Arc;

/// The bot and user tokens for an Events API request, found from its `authorizations[0]` as
/// Bolt's `authorize` finds them, and refreshed first if due.
async fn tokens_for(
    manager: &TokenManager,
    event: &serde_json::Value,
) -> oauth_facade::Result<(Option<AccessToken>, Option<AccessToken>)> {
    let at = &event["authorizations"][0];
    let context = SlackContext::new(
        at["enterprise_id"].as_str(),
        at["team_id"].as_str(),
        event["event"]["user"].as_str(),
        at["is_enterprise_install"].as_bool().unwrap_or(false),
    );
    let tokens = authorize(manager, &context).await?;
    Ok((tokens.bot.map(|(_, t)| t), tokens.user.map(|(_, t)| t)))
}

#[tokio::test]
async fn an_event_finds_the_bot_and_the_user_token() {
    // An install with a bot scope and a user scope, against the offline sandbox.
    let sandbox = Sandbox::builder().start().await.unwrap();
    let slack = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .build()
        .unwrap();
    let manager = TokenManager::builder(slack.clone(), Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("chat:write"))
        .param("user_scope", "search:read");
    let url = slack.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    assert_eq!(
        grant.tokens.len(),
        2,
        "the bot's and the installer's token sets"
    );

    let event = serde_json::json!({
        "type": "event_callback",
        "event": {"type": "app_mention", "user": "U0SANDBOX1"},
        "authorizations": [{"enterprise_id": null, "team_id": "T0SANDBOX1",
            "user_id": "U0SANDBOX1", "is_bot": true, "is_enterprise_install": false}],
    });
    let (bot, user) = tokens_for(&manager, &event).await.unwrap();
    assert!(bot.unwrap().expose_secret().starts_with("xoxe.xoxb-"));
    assert!(user.unwrap().expose_secret().starts_with("xoxe.xoxp-"));

    // Calling Slack: the client puts the bot's token on each request, and if Slack refuses it
    // as expired, refreshes it once and sends the request again.
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(ManagedAuth::new(
            manager.clone(),
            grant.token_key(Principal::Bot),
        ))
        .build();
    let api = format!(
        "{}/api/chat.postMessage",
        sandbox.base_url().trim_end_matches('/')
    );
    let answer: serde_json::Value = client
        .post(api)
        .form(&[("channel", "C0123"), ("text", "hello")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true);
}
