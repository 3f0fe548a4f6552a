//! Bolt's `authorize`: from where a Slack request comes from ([`SlackContext`]) to the bot token
//! and the acting user's token that serve it, fresh through the token manager.

use oauth_core::{AccessToken, Error, Result, TokenKey};
use oauth_manager::TokenManager;
use oauth_slack::SlackContext;

/// The tokens that serve one Slack request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SlackAuthorization {
    /// The bot token of the workspace (or of the org-wide install), and its key.
    pub bot: Option<(TokenKey, AccessToken)>,
    /// The token of the user who acted, when that user authorized the app's user scopes.
    pub user: Option<(TokenKey, AccessToken)>,
}

/// The bot and user tokens for a request from `context`, looked up by the rules of
/// [`SlackContext`] (a workspace's installation, then its org's org-wide one) and refreshed if
/// due, like every token from the manager.
///
/// Fails with [`Error::InstallationNotFound`] when neither a bot nor a user token serves the
/// request (the app is not installed there), and with the manager's error when one that exists
/// cannot serve (marked for re-authorization, a refresh failing).
///
/// ```no_run
/// # async fn handle(manager: &oauth_facade::TokenManager) -> oauth_facade::Result<()> {
/// use oauth_facade::slack::{SlackContext, authorize};
/// // From an event's `authorizations[0]`.
/// let context = SlackContext::new(Some("E0123"), Some("T0123"), Some("U0456"), false);
/// let tokens = authorize(manager, &context).await?;
/// if let Some((_, bot)) = &tokens.bot {
///     // call chat.postMessage with `bot`
/// #   let _ = bot;
/// }
/// # Ok(()) }
/// ```
pub async fn authorize(
    manager: &TokenManager,
    context: &SlackContext,
) -> Result<SlackAuthorization> {
    let bot = manager
        .first_access_token(&context.bot_candidates())
        .await?;
    let user = manager
        .first_access_token(&context.user_candidates())
        .await?;
    if bot.is_none() && user.is_none() {
        let tried: Vec<String> = context
            .installations()
            .iter()
            .map(ToString::to_string)
            .collect();
        return Err(Error::InstallationNotFound {
            installation: if tried.is_empty() {
                "none (the request names no team or enterprise)".to_owned()
            } else {
                tried.join(" or ")
            },
        });
    }
    Ok(SlackAuthorization { bot, user })
}
