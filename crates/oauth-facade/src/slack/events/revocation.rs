//! What `tokens_revoked` and `app_uninstalled` remove from the store, through the token manager
//! ([`TokenManager::forget`], [`TokenManager::forget_installation`]: no call to Slack, whose
//! tokens these already are not; this manager's cache forgets them at once, other replicas
//! within their `revalidate_interval`). The rules are in the parent module's docs ("Token revocation").

use oauth_core::{InstallationKey, Result, TokenKey};
use oauth_manager::TokenManager;
use oauth_slack::{Event, EventCallback, SlackInstallation, TokensRevoked};

/// The token sets `callback` ends, removed; empty for events that end none.
pub(crate) async fn apply(
    manager: &TokenManager,
    callback: &EventCallback,
) -> Result<Vec<TokenKey>> {
    match &callback.event {
        Event::TokensRevoked(tokens) => tokens_revoked(manager, callback, tokens).await,
        Event::AppUninstalled => app_uninstalled(manager, callback).await,
        _ => Ok(Vec::new()),
    }
}

/// The installation the event names (see the module docs).
async fn named(
    manager: &TokenManager,
    callback: &EventCallback,
) -> Result<Option<InstallationKey>> {
    for installation in callback.context().installations() {
        if manager.installation(&installation).await?.is_some()
            || !manager.token_keys(&installation).await?.is_empty()
        {
            return Ok(Some(installation));
        }
    }
    Ok(None)
}

async fn tokens_revoked(
    manager: &TokenManager,
    callback: &EventCallback,
    tokens: &TokensRevoked,
) -> Result<Vec<TokenKey>> {
    const REASON: &str = "tokens_revoked";
    let Some(installation) = named(manager, callback).await? else {
        tracing::info!(event_id = %callback.event_id, "tokens_revoked names no installation held here");
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for user in tokens.oauth.iter().filter(|u| !u.is_empty()) {
        let key = TokenKey::user(installation.clone(), user.as_str());
        if manager.forget(&key, REASON).await? {
            removed.push(key);
        }
    }
    if !tokens.bot.is_empty() {
        let bot_user = manager
            .installation(&installation)
            .await?
            .and_then(|record| SlackInstallation::from_installation(&record).bot_user_id);
        match bot_user {
            Some(bot) if !tokens.bot.contains(&bot) => {
                tracing::warn!(installation = %installation, bot_user = %bot, revoked = ?tokens.bot, "tokens_revoked lists bot users other than this installation's bot: its bot token set is kept");
            }
            _ => {
                let key = TokenKey::bot(installation.clone());
                if manager.forget(&key, REASON).await? {
                    removed.push(key);
                }
            }
        }
    }
    Ok(removed)
}

async fn app_uninstalled(
    manager: &TokenManager,
    callback: &EventCallback,
) -> Result<Vec<TokenKey>> {
    const REASON: &str = "app_uninstalled";
    let Some(installation) = named(manager, callback).await? else {
        tracing::info!(event_id = %callback.event_id, "app_uninstalled names no installation held here");
        return Ok(Vec::new());
    };
    let mut installations = vec![installation.clone()];
    if installation.is_organization()
        && let Some(enterprise) = installation.enterprise_id()
    {
        let provider = manager.provider().provider_id();
        for other in manager
            .store()
            .enterprise_installations(&provider, enterprise)
            .await?
        {
            if !installations.contains(&other) {
                installations.push(other);
            }
        }
    }
    let mut removed = Vec::new();
    for installation in &installations {
        removed.extend(manager.forget_installation(installation, REASON).await?);
    }
    Ok(removed)
}
