//! A complete multi-workspace Slack app: the install flow, the Events API endpoint (signatures
//! verified, retries deduplicated, revoked tokens removed), and the tokens of each event looked
//! up from the event. docs/slack-events.md walks through it.
//!
//! ```text
//! SLACK_CLIENT_ID=… SLACK_CLIENT_SECRET=… SLACK_SIGNING_SECRET=… \
//! SLACK_REDIRECT_URI=https://your.app/slack/oauth_redirect \
//! OAUTH_STORE_URL=sqlite:slack.db OAUTH_STORE_KEY_FILE=store.key \
//! cargo run -p oauth-facade --example slack_app --features slack,axum,sqlite
//! ```
#![allow(clippy::print_stderr)]

use oauth_facade::install::InstallFlow;
use oauth_facade::slack::events::{EventDelivery, EventsEndpoint};
use oauth_facade::slack::{Event, SigningSecret, authorize};
use oauth_facade::{
    EventHook, ProviderConfig, ProviderKind, Scopes, StoreConfig, TokenEvent, TokenManager,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ProviderConfig::from_env(ProviderKind::Slack)?;
    let redirect_uri = config
        .redirect_uri
        .clone()
        .ok_or("set SLACK_REDIRECT_URI to the public URL of /slack/oauth_redirect")?;
    let store = StoreConfig::from_env()?.open().await?;
    // Every token set removal (a revocation, an uninstall) reaches this hook.
    let manager = TokenManager::builder(config.build()?, store)
        .on_event(EventHook::new(|event| {
            if let TokenEvent::Removed { key, reason } = event {
                eprintln!("{key} removed: {reason}");
            }
        }))
        .build()?;

    // 1. The install flow: /slack/install redirects to Slack, /slack/oauth_redirect saves the
    //    installation (its bot's token set and the installing user's).
    let install = InstallFlow::builder(manager.clone(), redirect_uri)
        .scopes(Scopes::parse("app_mentions:read,chat:write"))
        .param("user_scope", "search:read")
        .build()?;

    // 2. The events endpoint: verified, acknowledged at once, handled in a task of its own.
    let signing_secret = SigningSecret::new(std::env::var("SLACK_SIGNING_SECRET")?);
    let tokens = manager.clone();
    let events = EventsEndpoint::builder(signing_secret)
        .token_manager(manager)
        .handler(move |delivery: EventDelivery| {
            let manager = tokens.clone();
            async move { handle(&manager, delivery).await }
        })
        .build()?;

    let app = axum::Router::new()
        .merge(install.router("/slack/install", "/slack/oauth_redirect"))
        .merge(events.router("/slack/events"));
    let address = std::env::var("SLACK_APP_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    eprintln!("listening on {address}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// 3. From the event to its tokens: the bot token of the workspace (or of the org-wide
///    install) and the acting user's, fresh.
async fn handle(manager: &TokenManager, delivery: EventDelivery) {
    let callback = &delivery.callback;
    match &callback.event {
        Event::Other(event) if event.event_type == "app_mention" => {
            match authorize(manager, &callback.context()).await {
                Ok(tokens) => {
                    if let Some((key, bot)) = &tokens.bot {
                        // Call chat.postMessage with `bot` here (fingerprint only in logs).
                        eprintln!("reply as {key} with token {}", bot.fingerprint());
                    }
                }
                Err(error) => eprintln!("no token for {}: {error}", callback.event_id),
            }
        }
        Event::TokensRevoked(_) | Event::AppUninstalled => {
            eprintln!(
                "{} removed {} token sets",
                callback.event_id,
                delivery.removed.len()
            );
        }
        other => eprintln!("ignoring {}", other.event_type()),
    }
}
