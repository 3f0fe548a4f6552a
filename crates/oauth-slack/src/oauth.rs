//! `oauth.v2.access` (code exchange, PKCE, refresh) and `oauth.v2.exchange`.

use std::time::{Duration, SystemTime};

use oauth_core::http::{HttpResponse, Idempotency, undecodable};
use oauth_core::{
    AccessToken, AuthorizationCode, CodeExchange, PkceVerifier, ProviderExtras, RefreshToken,
    Result, Scopes, TokenSet, TokenType,
};
use serde::Deserialize;

use crate::PROVIDER;
use crate::client::SlackClient;
use crate::types::{
    Enterprise, IncomingWebhook, SlackTokenExtras, Team, WebhookChannel, grantee, nullable_ref,
};
use crate::wire::{Credential, Form, SlackResponse, decode_response};

/// The arguments of an `oauth.v2.access` code exchange.
///
/// ```
/// use oauth_core::{AuthorizationCode, PkceVerifier};
/// use oauth_slack::OauthV2AccessRequest;
/// let request = OauthV2AccessRequest::new(AuthorizationCode::new("4724469134.4644010092847.232b4e"))
///     .redirect_uri("https://example.com/slack/oauth/callback")
///     .code_verifier(PkceVerifier::generate()?);
/// # Ok::<(), oauth_core::Error>(())
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OauthV2AccessRequest {
    /// `code`: the code from the redirect.
    pub code: AuthorizationCode,
    /// `redirect_uri`: must be the one of the authorize URL; the client's default when `None`.
    /// Checked before anything is sent ([`oauth_core::check_redirect_uri`]).
    pub redirect_uri: Option<String>,
    /// `code_verifier`: the PKCE verifier, when the authorize URL had a `code_challenge`.
    pub code_verifier: Option<PkceVerifier>,
}

impl OauthV2AccessRequest {
    /// An exchange of `code`.
    pub fn new(code: AuthorizationCode) -> Self {
        Self {
            code,
            redirect_uri: None,
            code_verifier: None,
        }
    }

    /// Sets `redirect_uri`.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Sets `code_verifier`.
    pub fn code_verifier(mut self, verifier: PkceVerifier) -> Self {
        self.code_verifier = Some(verifier);
        self
    }
}

/// The exchange of a verified callback: its code, redirect URI and PKCE verifier.
impl From<CodeExchange> for OauthV2AccessRequest {
    fn from(exchange: CodeExchange) -> Self {
        Self {
            code: exchange.code,
            redirect_uri: exchange.redirect_uri,
            code_verifier: exchange.pkce_verifier,
        }
    }
}

/// The arguments of an `oauth.v2.access` refresh (`grant_type=refresh_token`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OauthV2RefreshRequest {
    /// `refresh_token` (`xoxe-1-…`). Single-use: spent by this call after a short grace period.
    pub refresh_token: RefreshToken,
}

impl OauthV2RefreshRequest {
    /// A refresh of `refresh_token`.
    pub fn new(refresh_token: RefreshToken) -> Self {
        Self { refresh_token }
    }
}

/// The arguments of `oauth.v2.exchange`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OauthV2ExchangeRequest {
    /// `token`: the legacy long-lived `xoxb-`/`xoxp-` token to migrate to rotation.
    pub token: AccessToken,
}

impl OauthV2ExchangeRequest {
    /// An exchange of `token`.
    pub fn new(token: AccessToken) -> Self {
        Self { token }
    }
}

/// The bot part of an installation: the top-level token of an `oauth.v2.access` answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BotInstallation {
    /// `bot_user_id` (`U…`/`W…`), also in `tokens.grantee.bot_id`.
    pub bot_user_id: Option<String>,
    /// The bot token (`access_token`, `token_type`, `scope`, `refresh_token`, `expires_in`).
    pub tokens: TokenSet,
}

/// `authed_user`: the user who installed the app, and their token when user scopes were granted.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AuthedUser {
    /// `id` (`U…`/`W…`).
    pub id: String,
    /// The user token, when user scopes were granted.
    pub tokens: Option<TokenSet>,
}

/// The answer of an `oauth.v2.access` code exchange: the installation.
///
/// Fields: `app_id`, `team` (`null` for org-wide installs), `enterprise`, `is_enterprise_install`,
/// the bot token with `bot_user_id`, `scope`, `refresh_token`, `expires_in` (rotation), the
/// `authed_user` with their token, and the `incoming_webhook`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OauthV2AccessResponse {
    /// `app_id`.
    pub app_id: Option<String>,
    /// `team`.
    pub team: Option<Team>,
    /// `enterprise`.
    pub enterprise: Option<Enterprise>,
    /// `is_enterprise_install` (false when absent).
    pub is_enterprise_install: bool,
    /// The bot token, when bot scopes were requested.
    pub bot: Option<BotInstallation>,
    /// `authed_user`.
    pub authed_user: Option<AuthedUser>,
    /// `incoming_webhook`, when the `incoming-webhook` scope was granted.
    pub incoming_webhook: Option<IncomingWebhook>,
}

impl OauthV2AccessResponse {
    /// The token a single-token caller wants: the bot token when there is one, else the user's.
    pub fn primary_tokens(&self) -> Option<&TokenSet> {
        self.bot.as_ref().map(|b| &b.tokens).or_else(|| {
            self.authed_user
                .as_ref()
                .and_then(|user| user.tokens.as_ref())
        })
    }

    /// Takes the [`primary_tokens`](Self::primary_tokens).
    pub fn into_primary_tokens(self) -> Option<TokenSet> {
        match self.bot {
            Some(bot) => Some(bot.tokens),
            None => self.authed_user.and_then(|user| user.tokens),
        }
    }

    /// The user token, if user scopes were granted.
    pub fn user_tokens(&self) -> Option<&TokenSet> {
        self.authed_user.as_ref().and_then(|u| u.tokens.as_ref())
    }
}

/// The answer of an `oauth.v2.access` refresh, and of `oauth.v2.exchange`: one token, flat.
///
/// `tokens.token_type` says whether it is a bot (`bot_user_id` in `tokens.grantee.bot_id`) or a
/// user token (`user_id` in `tokens.grantee.user_id`). `tokens.refresh_token` is the **new**
/// refresh token: the old one is spent.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OauthV2TokenResponse {
    /// `app_id`.
    pub app_id: Option<String>,
    /// `team`.
    pub team: Option<Team>,
    /// `enterprise`.
    pub enterprise: Option<Enterprise>,
    /// `is_enterprise_install` (false when absent).
    pub is_enterprise_install: bool,
    /// `bot_user_id` (bot tokens).
    pub bot_user_id: Option<String>,
    /// `user_id` (user tokens).
    pub user_id: Option<String>,
    /// `access_token`, `token_type`, `scope`, `refresh_token`, `expires_in`.
    pub tokens: TokenSet,
}

/// The answer of `oauth.v2.access` with `grant_type=refresh_token`.
#[derive(Clone, Debug, PartialEq)]
pub struct OauthV2RefreshResponse(pub OauthV2TokenResponse);

/// The answer of `oauth.v2.exchange`.
#[derive(Clone, Debug, PartialEq)]
pub struct OauthV2ExchangeResponse(pub OauthV2TokenResponse);

#[derive(Deserialize)]
struct RawAuthedUser {
    id: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    access_token: Option<AccessToken>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct RawOauthV2 {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    access_token: Option<AccessToken>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    bot_user_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default, deserialize_with = "nullable_ref")]
    team: Option<Team>,
    #[serde(default, deserialize_with = "nullable_ref")]
    enterprise: Option<Enterprise>,
    #[serde(default)]
    is_enterprise_install: Option<bool>,
    #[serde(default)]
    authed_user: Option<RawAuthedUser>,
    #[serde(default)]
    incoming_webhook: Option<IncomingWebhook>,
}

impl RawOauthV2 {
    /// The Slack extras of this answer.
    fn extras(&self) -> ProviderExtras {
        let mut extras = ProviderExtras::new();
        SlackTokenExtras {
            app_id: self.app_id.clone(),
            is_enterprise_install: self.is_enterprise_install.unwrap_or(false),
            incoming_webhook: self.incoming_webhook.as_ref().map(webhook_channel),
        }
        .write(&mut extras);
        extras
    }
}

/// Whether an access token from an answer is one (not empty).
fn is_token(token: &AccessToken) -> bool {
    !token.expose_secret().trim().is_empty()
}

pub(crate) fn webhook_channel(webhook: &IncomingWebhook) -> WebhookChannel {
    WebhookChannel {
        channel: webhook.channel.clone(),
        channel_id: webhook.channel_id.clone(),
        configuration_url: webhook.configuration_url.clone(),
    }
}

pub(crate) struct TokenParts<'a> {
    pub(crate) access_token: AccessToken,
    pub(crate) token_type: &'a str,
    pub(crate) scope: Option<&'a str>,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) expires_in: Option<i64>,
}

pub(crate) fn token_set(parts: TokenParts<'_>, received_at: SystemTime) -> TokenSet {
    let mut tokens = TokenSet::builder(PROVIDER, parts.access_token)
        .token_type(TokenType::parse(parts.token_type))
        .issued_at(received_at)
        .build();
    tokens.refresh_token = parts.refresh_token;
    if let Some(expires_in) = parts.expires_in {
        tokens.set_expires_in(expires_in);
    }
    tokens.scopes = parts.scope.map(Scopes::parse).unwrap_or_default();
    tokens
}

impl SlackResponse for OauthV2AccessResponse {
    const OPERATION: &'static str = "oauth.v2.access";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        let mut raw: RawOauthV2 = decode_response(Self::OPERATION, response)?;
        let extras = raw.extras();
        let base = grantee(raw.team.as_ref(), raw.enterprise.as_ref());
        let installer = raw.authed_user.as_ref().map(|u| u.id.clone());
        let bot = raw.take_bot_tokens(received_at).map(|mut tokens| {
            tokens.grantee = base.clone();
            tokens.grantee.bot_id = raw.bot_user_id.clone();
            tokens.grantee.user_id = installer.clone().or(raw.user_id.clone());
            tokens.extras = extras.clone();
            BotInstallation {
                bot_user_id: raw.bot_user_id.clone(),
                tokens,
            }
        });
        let authed_user = raw.authed_user.map(|user| {
            let tokens = user.access_token.filter(is_token).map(|access_token| {
                let mut tokens = token_set(
                    TokenParts {
                        access_token,
                        token_type: user.token_type.as_deref().unwrap_or("user"),
                        scope: user.scope.as_deref(),
                        refresh_token: user.refresh_token,
                        expires_in: user.expires_in,
                    },
                    received_at,
                );
                tokens.grantee = base.clone();
                tokens.grantee.user_id = Some(user.id.clone());
                tokens.extras = extras.clone();
                tokens
            });
            AuthedUser {
                id: user.id,
                tokens,
            }
        });
        let decoded = OauthV2AccessResponse {
            app_id: raw.app_id,
            team: raw.team,
            enterprise: raw.enterprise,
            is_enterprise_install: raw.is_enterprise_install.unwrap_or(false),
            bot,
            authed_user,
            incoming_webhook: raw.incoming_webhook,
        };
        if decoded.primary_tokens().is_none() {
            return Err(undecodable(
                &PROVIDER,
                Self::OPERATION,
                response,
                "the answer has neither a bot nor a user access token (or they are empty)",
            ));
        }
        Ok(decoded)
    }
}

pub(crate) fn decode_flat(
    method: &'static str,
    response: &HttpResponse,
    received_at: SystemTime,
) -> Result<OauthV2TokenResponse> {
    let mut raw: RawOauthV2 = decode_response(method, response)?;
    let extras = raw.extras();
    let Some(mut tokens) = raw.take_bot_tokens(received_at) else {
        return Err(undecodable(
            &PROVIDER,
            method,
            response,
            "missing or empty field `access_token`",
        ));
    };
    tokens.grantee = grantee(raw.team.as_ref(), raw.enterprise.as_ref());
    tokens.grantee.bot_id = raw.bot_user_id.clone();
    tokens.grantee.user_id = raw
        .user_id
        .clone()
        .or_else(|| raw.authed_user.as_ref().map(|user| user.id.clone()));
    tokens.extras = extras;
    Ok(OauthV2TokenResponse {
        app_id: raw.app_id,
        team: raw.team,
        enterprise: raw.enterprise,
        is_enterprise_install: raw.is_enterprise_install.unwrap_or(false),
        bot_user_id: raw.bot_user_id,
        user_id: tokens.grantee.user_id.clone(),
        tokens,
    })
}

impl RawOauthV2 {
    /// The bot's (top-level) token set, its tokens taken out; `None` without an access token.
    /// The grantee and extras are the caller's.
    /// An empty access token counts as none.
    fn take_bot_tokens(&mut self, received_at: SystemTime) -> Option<TokenSet> {
        let access_token = self.access_token.take().filter(is_token)?;
        Some(token_set(
            TokenParts {
                access_token,
                token_type: self.token_type.as_deref().unwrap_or("bot"),
                scope: self.scope.as_deref(),
                refresh_token: self.refresh_token.take(),
                expires_in: self.expires_in,
            },
            received_at,
        ))
    }
}

impl SlackResponse for OauthV2RefreshResponse {
    const OPERATION: &'static str = "oauth.v2.access";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        decode_flat(Self::OPERATION, response, received_at).map(OauthV2RefreshResponse)
    }
}

impl SlackResponse for OauthV2ExchangeResponse {
    const OPERATION: &'static str = "oauth.v2.exchange";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        decode_flat(Self::OPERATION, response, received_at).map(OauthV2ExchangeResponse)
    }
}

impl SlackClient {
    /// `oauth.v2.access`: exchanges a code from the v2 install flow (confidential or PKCE public
    /// client) for the installation. Never resent once it may have reached Slack.
    ///
    /// Wire: `POST oauth.v2.access`, form `client_id`, `client_secret` (form-body auth; Basic puts
    /// both in `Authorization`; a public client sends no secret), `code`, `redirect_uri` (if any),
    /// `code_verifier` (PKCE).
    pub async fn oauth_v2_access(
        &self,
        request: &OauthV2AccessRequest,
    ) -> Result<OauthV2AccessResponse> {
        let (form, credential) = self.code_form(request)?;
        let mut response: OauthV2AccessResponse =
            self.call(Idempotency::SingleUse, form, credential).await?;
        if let Some(bot) = &mut response.bot {
            self.stamp_refresh_expiry(&mut bot.tokens);
        }
        if let Some(tokens) = response
            .authed_user
            .as_mut()
            .and_then(|u| u.tokens.as_mut())
        {
            self.stamp_refresh_expiry(tokens);
        }
        Ok(response)
    }

    /// `oauth.v2.access` with `grant_type=refresh_token`: rotates a bot or user token. The answer
    /// carries a new access token and a new refresh token; the old refresh token is spent.
    /// Never resent once it may have reached Slack.
    ///
    /// Wire: form `client_id`, `client_secret` (as for the code exchange; a PKCE public client
    /// sends only `client_id`), `grant_type=refresh_token`, `refresh_token`.
    pub async fn oauth_v2_access_refresh(
        &self,
        request: &OauthV2RefreshRequest,
    ) -> Result<OauthV2RefreshResponse> {
        let (form, credential) = self.refresh_form(&request.refresh_token);
        let mut response: OauthV2RefreshResponse =
            self.call(Idempotency::SingleUse, form, credential).await?;
        self.stamp_refresh_expiry(&mut response.0.tokens);
        Ok(response)
    }

    /// The form of a code exchange (`oauth.v2.access`, `oauth.v2.user.access`: the same
    /// arguments), and its credential. The redirect URI is checked first, so a refused one sends
    /// nothing and spends no code.
    pub(crate) fn code_form(
        &self,
        request: &OauthV2AccessRequest,
    ) -> Result<(Form, Credential<'static>)> {
        let mut form = Form::new();
        let credential = self.client_credentials(&mut form);
        let redirect_uri = self
            .common()
            .exchange_redirect_uri(request.redirect_uri.as_deref())?;
        form.push("code", request.code.expose_secret());
        form.push_opt("redirect_uri", redirect_uri);
        form.push_opt(
            "code_verifier",
            request
                .code_verifier
                .as_ref()
                .map(PkceVerifier::expose_secret),
        );
        Ok((form, credential))
    }

    /// The form of `oauth.v2.access` with `grant_type=refresh_token`, and its credential.
    pub(crate) fn refresh_form(&self, refresh_token: &RefreshToken) -> (Form, Credential<'_>) {
        let mut form = Form::new();
        let credential = self.client_credentials(&mut form);
        form.push("grant_type", "refresh_token");
        form.push("refresh_token", refresh_token.expose_secret());
        (form, credential)
    }

    /// `oauth.v2.exchange`: swaps a legacy long-lived token for an expiring token and a refresh
    /// token (apps with rotation turned on). Needs the client secret. Never resent once it may
    /// have reached Slack.
    ///
    /// Wire, as `@slack/web-api` 8 sends it: form `client_id`, `client_secret`, `token`, and the
    /// same token in `Authorization: Bearer` (whatever [`ClientAuth`](crate::ClientAuth) says).
    pub async fn oauth_v2_exchange(
        &self,
        request: &OauthV2ExchangeRequest,
    ) -> Result<OauthV2ExchangeResponse> {
        let secret = self.require_secret(OauthV2ExchangeResponse::OPERATION)?;
        let mut form = Form::new();
        form.push("client_id", self.client_id());
        form.push("client_secret", secret.expose_secret());
        form.push("token", request.token.expose_secret());
        self.call(
            Idempotency::SingleUse,
            form,
            Credential::Bearer(&request.token),
        )
        .await
    }
}

/// How long the refresh tokens of PKCE (public-client) apps live: 30 days, per Slack's docs.
pub const PKCE_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

impl SlackClient {
    /// A public client is a PKCE app, whose refresh tokens expire after 30 days: say so in the
    /// token set.
    pub(crate) fn stamp_refresh_expiry(&self, tokens: &mut TokenSet) {
        if self.is_public() && tokens.refresh_token.is_some() {
            tokens.refresh_token_expires_at =
                tokens.issued_at.checked_add(PKCE_REFRESH_TOKEN_LIFETIME);
        }
    }
}
