//! The legacy v1 `oauth.access` (classic apps and retired workspace apps), deprecated by Slack.

use std::collections::BTreeMap;
use std::time::SystemTime;

use oauth_core::http::{HttpResponse, Idempotency};
use oauth_core::{AccessToken, AuthorizationCode, ProviderExtras, RefreshToken, Result, TokenSet};
use serde::Deserialize;

use crate::client::SlackClient;
use crate::oauth::{TokenParts, token_set, webhook_channel};
use crate::types::{IncomingWebhook, SlackTokenExtras};
use crate::wire::{Form, SlackResponse, decode_response};

/// The arguments of the legacy `oauth.access`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OauthAccessRequest {
    /// `code`.
    pub code: AuthorizationCode,
    /// `redirect_uri`; the client's default when `None`. Checked before anything is sent
    /// ([`oauth_core::check_redirect_uri`]).
    pub redirect_uri: Option<String>,
    /// `single_channel` (legacy workspace apps), sent as `true`/`false` when set.
    pub single_channel: Option<bool>,
}

impl OauthAccessRequest {
    /// An exchange of `code`.
    pub fn new(code: AuthorizationCode) -> Self {
        Self {
            code,
            redirect_uri: None,
            single_channel: None,
        }
    }

    /// Sets `redirect_uri`.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Sets `single_channel`.
    pub fn single_channel(mut self, single_channel: bool) -> Self {
        self.single_channel = Some(single_channel);
        self
    }
}

/// `bot` of a legacy `oauth.access` answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OauthAccessBot {
    /// `bot_user_id`.
    pub bot_user_id: Option<String>,
    /// `bot_access_token` (with the scopes of the install).
    pub tokens: TokenSet,
}

/// `authorizing_user` / `installer_user` of a legacy workspace-app answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OauthAccessUser {
    /// `user_id`.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `app_home`.
    #[serde(default)]
    pub app_home: Option<String>,
}

/// The answer of the legacy `oauth.access` (classic apps and retired workspace apps). The docs'
/// examples have no `ok` field; this decoder does not require it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OauthAccessResponse {
    /// The user (or workspace-app `xoxa-`) token: `access_token`, `token_type`, `scope`,
    /// `refresh_token`, `expires_in`, with `team_id`, `team_name`, `enterprise_id`, `user_id`.
    pub tokens: TokenSet,
    /// `team_id`.
    pub team_id: Option<String>,
    /// `team_name`.
    pub team_name: Option<String>,
    /// `enterprise_id`.
    pub enterprise_id: Option<String>,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `app_id` (workspace apps).
    pub app_id: Option<String>,
    /// `app_user_id` (workspace apps).
    pub app_user_id: Option<String>,
    /// `authorizing_user` (workspace apps).
    pub authorizing_user: Option<OauthAccessUser>,
    /// `installer_user` (workspace apps).
    pub installer_user: Option<OauthAccessUser>,
    /// `scopes` by resource type (workspace apps): `app_home`, `team`, `channel`, …
    pub scopes: BTreeMap<String, Vec<String>>,
    /// `single_channel_id`.
    pub single_channel_id: Option<String>,
    /// `bot`.
    pub bot: Option<OauthAccessBot>,
    /// `incoming_webhook`.
    pub incoming_webhook: Option<IncomingWebhook>,
}

#[derive(Deserialize)]
struct RawOauthAccessBot {
    #[serde(default)]
    bot_user_id: Option<String>,
    bot_access_token: AccessToken,
}

#[derive(Deserialize)]
struct RawOauthAccess {
    access_token: AccessToken,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    enterprise_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_user_id: Option<String>,
    #[serde(default)]
    authorizing_user: Option<OauthAccessUser>,
    #[serde(default)]
    installer_user: Option<OauthAccessUser>,
    #[serde(default)]
    scopes: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    single_channel_id: Option<String>,
    #[serde(default)]
    bot: Option<RawOauthAccessBot>,
    #[serde(default)]
    incoming_webhook: Option<IncomingWebhook>,
}

impl SlackResponse for OauthAccessResponse {
    const OPERATION: &'static str = "oauth.access";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        let raw: RawOauthAccess = decode_response(Self::OPERATION, response)?;
        let mut extras = ProviderExtras::new();
        SlackTokenExtras {
            app_id: raw.app_id.clone(),
            is_enterprise_install: false,
            incoming_webhook: raw.incoming_webhook.as_ref().map(webhook_channel),
        }
        .write(&mut extras);
        let mut base = oauth_core::Grantee::new();
        base.workspace_id = raw.team_id.clone();
        base.workspace_name = raw.team_name.clone();
        base.enterprise_id = raw.enterprise_id.clone();
        let mut tokens = token_set(
            TokenParts {
                access_token: raw.access_token,
                token_type: raw.token_type.as_deref().unwrap_or("user"),
                scope: raw.scope.as_deref(),
                refresh_token: raw.refresh_token,
                expires_in: raw.expires_in,
            },
            received_at,
        );
        tokens.grantee = base.clone();
        tokens.grantee.user_id = raw.user_id.clone();
        tokens.grantee.bot_id = raw.app_user_id.clone();
        tokens.extras = extras.clone();
        let bot = raw.bot.map(|bot| {
            let mut bot_tokens = token_set(
                TokenParts {
                    access_token: bot.bot_access_token,
                    token_type: "bot",
                    scope: raw.scope.as_deref(),
                    refresh_token: None,
                    expires_in: None,
                },
                received_at,
            );
            bot_tokens.grantee = base.clone();
            bot_tokens.grantee.bot_id = bot.bot_user_id.clone();
            bot_tokens.grantee.user_id = raw.user_id.clone();
            bot_tokens.extras = extras.clone();
            OauthAccessBot {
                bot_user_id: bot.bot_user_id,
                tokens: bot_tokens,
            }
        });
        Ok(OauthAccessResponse {
            tokens,
            team_id: raw.team_id,
            team_name: raw.team_name,
            enterprise_id: raw.enterprise_id,
            user_id: raw.user_id,
            app_id: raw.app_id,
            app_user_id: raw.app_user_id,
            authorizing_user: raw.authorizing_user,
            installer_user: raw.installer_user,
            scopes: raw.scopes.unwrap_or_default(),
            single_channel_id: raw.single_channel_id,
            bot,
            incoming_webhook: raw.incoming_webhook,
        })
    }
}

impl SlackClient {
    /// `oauth.access`: the legacy v1 code exchange (classic apps). Needs the client secret.
    ///
    /// Wire: form `client_id`, `client_secret` (or Basic), `code`, `redirect_uri`,
    /// `single_channel` (`true`/`false`, when set).
    #[deprecated(note = "Slack retired classic apps: install with oauth.v2.access")]
    pub async fn oauth_access(&self, request: &OauthAccessRequest) -> Result<OauthAccessResponse> {
        self.require_secret(OauthAccessResponse::OPERATION)?;
        tracing::warn!("oauth.access is deprecated: use oauth.v2.access");
        let mut form = Form::new();
        let credential = self.client_credentials(&mut form);
        let redirect_uri = self
            .common()
            .exchange_redirect_uri(request.redirect_uri.as_deref())?;
        form.push("code", request.code.expose_secret());
        form.push_opt("redirect_uri", redirect_uri);
        if let Some(single_channel) = request.single_channel {
            form.push(
                "single_channel",
                if single_channel { "true" } else { "false" },
            );
        }
        self.call(Idempotency::SingleUse, form, credential).await
    }
}
