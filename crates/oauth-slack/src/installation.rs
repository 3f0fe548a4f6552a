//! Slack's installation model: what an install grants ([`OauthV2AccessResponse::into_grant`]),
//! the installation's key, and a typed view of its record ([`SlackInstallation`]).
//!
//! One installation per (app, enterprise, team) for workspace installs, keyed `T…` or `E…/T…`,
//! and per (app, enterprise) for org-wide installs (`is_enterprise_install`, `team: null`), keyed
//! `E…/*` (see [`InstallationKey`]). Under it, the bot's token set (principal `bot`) and the
//! token set of each user who authorized user scopes (principal `user:U…`), each rotating on its
//! own. A reinstall in the same workspace writes the same installation again.

use std::time::SystemTime;

use oauth_core::{
    Error, Grant, Installation, InstallationKey, InstallationSecret, Principal, Result,
    UndecodableResponse,
};
use serde::{Deserialize, Serialize};

use crate::PROVIDER;
use crate::oauth::{OauthV2AccessResponse, OauthV2TokenResponse};
use crate::oauth_user::OauthV2UserAccessResponse;
use crate::types::{Enterprise, Team, WebhookChannel};

/// The [`Installation::secrets`] name of the incoming-webhook URL.
pub const INCOMING_WEBHOOK_URL: &str = "incoming_webhook_url";

/// The key of the installation an answer describes: `E…/*` for an org-wide install, else
/// `T…` or `E…/T…`. `None` when the answer names neither a team nor, for an org-wide install, an
/// enterprise.
pub fn installation_key(
    team: Option<&Team>,
    enterprise: Option<&Enterprise>,
    is_enterprise_install: bool,
) -> Option<InstallationKey> {
    match (team, enterprise) {
        (_, Some(enterprise)) if is_enterprise_install => {
            Some(InstallationKey::organization(PROVIDER, &enterprise.id))
        }
        (Some(team), enterprise) => Some(InstallationKey::workspace(
            PROVIDER,
            enterprise.map(|e| e.id.as_str()),
            &team.id,
        )),
        (None, _) => None,
    }
}

/// What this crate keeps in a Slack installation's record ([`Installation::details`]), typed.
/// Never a secret: the incoming-webhook URL is in [`Installation::secrets`] under
/// [`INCOMING_WEBHOOK_URL`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct SlackInstallation {
    /// `app_id`.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The workspace (`null` for an org-wide install).
    #[serde(default)]
    pub team: Option<Team>,
    /// The Enterprise Grid organisation, if any.
    #[serde(default)]
    pub enterprise: Option<Enterprise>,
    /// Whether the app is installed org-wide.
    #[serde(default)]
    pub is_enterprise_install: bool,
    /// The bot's user id (`U…`), when the install has a bot.
    #[serde(default)]
    pub bot_user_id: Option<String>,
    /// The scopes granted to the bot.
    #[serde(default)]
    pub bot_scopes: Vec<String>,
    /// The user who installed (or last reinstalled) the app.
    #[serde(default)]
    pub installer_user_id: Option<String>,
    /// The user scopes the installer granted.
    #[serde(default)]
    pub installer_scopes: Vec<String>,
    /// The incoming webhook's channel, when the `incoming-webhook` scope was granted.
    #[serde(default)]
    pub incoming_webhook: Option<WebhookChannel>,
}

impl SlackInstallation {
    /// The typed view of a record's details (fields this crate did not write read as absent).
    pub fn from_installation(installation: &Installation) -> Self {
        serde_json::to_value(&installation.details)
            .ok()
            .and_then(|value| serde_json::from_value(value).ok())
            .unwrap_or_default()
    }
}

impl OauthV2AccessResponse {
    /// Everything the install granted, received at `installed_at`: the installation (its key,
    /// its record with [`SlackInstallation`] details and the webhook URL as a secret), the bot's
    /// token set when bot scopes were granted, and the installing user's token set when user
    /// scopes were granted.
    ///
    /// Fails with an undecodable-response error when the answer has no token at all, or names
    /// neither a team nor (for an org-wide install) an enterprise.
    pub fn into_grant(self, installed_at: SystemTime) -> Result<Grant> {
        let undecodable = |reason: &str| undecodable("oauth.v2.access", reason);
        let key = installation_key(
            self.team.as_ref(),
            self.enterprise.as_ref(),
            self.is_enterprise_install,
        )
        .ok_or_else(|| undecodable("the answer names no team (nor, org-wide, an enterprise)"))?;
        let details = SlackInstallation {
            app_id: self.app_id.clone(),
            team: self.team.clone(),
            enterprise: self.enterprise.clone(),
            is_enterprise_install: self.is_enterprise_install,
            bot_user_id: self.bot.as_ref().and_then(|b| b.bot_user_id.clone()),
            bot_scopes: self
                .bot
                .as_ref()
                .map(|b| b.tokens.scopes.iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            installer_user_id: self.authed_user.as_ref().map(|u| u.id.clone()),
            installer_scopes: self
                .authed_user
                .as_ref()
                .and_then(|u| u.tokens.as_ref())
                .map(|t| t.scopes.iter().map(str::to_owned).collect())
                .unwrap_or_default(),
            incoming_webhook: self.incoming_webhook.as_ref().map(|hook| WebhookChannel {
                channel: hook.channel.clone(),
                channel_id: hook.channel_id.clone(),
                configuration_url: hook.configuration_url.clone(),
            }),
        };
        let mut installation = record(key, &details, installed_at);
        if let Some(hook) = &self.incoming_webhook {
            installation.secrets.insert(
                INCOMING_WEBHOOK_URL,
                InstallationSecret::new(hook.url.expose_secret()),
            );
        }
        let mut grant = Grant::new(installation);
        if let Some(bot) = self.bot {
            grant = grant.with_tokens(Principal::Bot, bot.tokens);
        }
        if let Some(user) = self.authed_user
            && let Some(tokens) = user.tokens
        {
            grant = grant.with_tokens(Principal::User(user.id), tokens);
        }
        if grant.tokens.is_empty() {
            return Err(undecodable("the answer carries no access token"));
        }
        Ok(grant)
    }
}

impl OauthV2UserAccessResponse {
    /// What a user-only install granted, received at `installed_at`: the installation (keyed as
    /// for [`OauthV2AccessResponse::into_grant`], its record naming the user as the installer) and
    /// the user's token set, of principal `user:<user_id>`. Saved into an installation that has a
    /// bot, it adds the user and leaves the record ([`Grant::is_install`] is false).
    ///
    /// Fails with an undecodable-response error when the answer names no user, or neither a team
    /// nor (for an org-wide install) an enterprise.
    pub fn into_grant(self, installed_at: SystemTime) -> Result<Grant> {
        let OauthV2TokenResponse {
            app_id,
            team,
            enterprise,
            is_enterprise_install,
            user_id,
            tokens,
            ..
        } = self.0;
        let key = installation_key(team.as_ref(), enterprise.as_ref(), is_enterprise_install)
            .ok_or_else(|| {
                undecodable(
                    "oauth.v2.user.access",
                    "the answer names no team (nor, org-wide, an enterprise)",
                )
            })?;
        let user = user_id.ok_or_else(|| {
            undecodable(
                "oauth.v2.user.access",
                "the answer names no user (`user_id`)",
            )
        })?;
        let details = SlackInstallation {
            app_id,
            team,
            enterprise,
            is_enterprise_install,
            installer_user_id: Some(user.clone()),
            installer_scopes: tokens.scopes.iter().map(str::to_owned).collect(),
            ..SlackInstallation::default()
        };
        Ok(Grant::new(record(key, &details, installed_at))
            .with_tokens(Principal::User(user), tokens))
    }
}

/// The record of `key` with `details`, installed at `installed_at`.
fn record(
    key: InstallationKey,
    details: &SlackInstallation,
    installed_at: SystemTime,
) -> Installation {
    let mut installation = Installation::new(key, installed_at);
    installation.enterprise_id = details.enterprise.as_ref().map(|e| e.id.clone());
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(details) {
        for (name, value) in fields {
            installation.details.insert(name, value);
        }
    }
    installation
}

fn undecodable(operation: &'static str, reason: &str) -> Error {
    Error::undecodable(UndecodableResponse {
        provider: PROVIDER,
        operation,
        status: http::StatusCode::OK,
        content_type: None,
        reason: reason.into(),
        snippet: String::new(),
    })
}
