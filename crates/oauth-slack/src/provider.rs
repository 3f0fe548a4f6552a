//! The `oauth-core` traits on [`SlackClient`].

use async_trait::async_trait;
use oauth_core::{
    AccessToken, AuthorizationRequest, CodeExchange, Grant, Grantee, Introspect, ProviderId,
    RefreshToken, Result, Revoke, TokenGrant, TokenInfo, TokenProvider, TokenSet, TokenType,
};
use url::Url;

use crate::PROVIDER;
use crate::auth::AuthRevokeRequest;
use crate::client::SlackClient;
use crate::error::{SlackError, SlackErrorCode};
use crate::oauth::{OauthV2AccessRequest, OauthV2RefreshRequest};

#[async_trait]
impl TokenGrant for SlackClient {
    /// `oauth.v2.access` with the code (and `redirect_uri`, PKCE verifier); the grant holds the
    /// installation (see [`OauthV2AccessResponse::into_grant`](crate::OauthV2AccessResponse::into_grant)),
    /// the bot's token set when bot scopes were granted and the installing user's when user
    /// scopes were. `exchange.extras` are not used.
    ///
    /// A [user-only](crate::SlackClientBuilder::user_only_install) client calls
    /// `oauth.v2.user.access` instead, and the grant holds the user's token set only.
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant> {
        let request = OauthV2AccessRequest::from(exchange);
        if self.is_user_only_install() {
            return self
                .oauth_v2_user_access(&request)
                .await?
                .into_grant(self.common().now());
        }
        self.oauth_v2_access(&request)
            .await?
            .into_grant(self.common().now())
    }

    /// `oauth.v2.access` with `grant_type=refresh_token`. The result carries the new refresh
    /// token (or, should Slack not send one, the one passed in).
    /// A user-only client refreshes with `oauth.v2.user.access`.
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let request = OauthV2RefreshRequest::new(refresh_token.clone());
        let mut tokens = if self.is_user_only_install() {
            self.oauth_v2_user_access_refresh(&request).await?.0.tokens
        } else {
            self.oauth_v2_access_refresh(&request).await?.0.tokens
        };
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        Ok(tokens)
    }

    /// The HTTP client's bound on one call ([`HttpClient::call_time_bound`](oauth_core::http::HttpClient::call_time_bound)).
    fn refresh_time_bound(&self) -> Option<std::time::Duration> {
        self.common().http().call_time_bound()
    }
}

#[async_trait]
impl Introspect for SlackClient {
    /// `auth.test`. `invalid_auth`, `not_authed`, `token_revoked`, `token_expired` and
    /// `account_inactive` make the token inactive (with the code as the reason); other errors are
    /// errors. Scopes come from the `x-oauth-scopes` header.
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo> {
        let test = match self.auth_test(token).await {
            Ok(test) => test,
            Err(error) => {
                let inactive = error
                    .provider_error()
                    .and_then(|e| e.downcast_ref::<SlackError>())
                    .filter(|e| e.code().means_inactive_token())
                    .map(|e| e.code().as_str().to_owned());
                return match inactive {
                    Some(code) => Ok(TokenInfo::inactive(Some(code))),
                    None => Err(error),
                };
            }
        };
        let mut info = TokenInfo::active();
        info.scopes = test.scopes.clone().unwrap_or_default();
        info.expires_at = test.expires_at;
        let is_bot = test.bot_id.is_some();
        info.token_type = Some(if is_bot {
            TokenType::Bot
        } else {
            TokenType::User
        });
        let mut subject = Grantee::new();
        subject.workspace_id = test.team_id.clone();
        subject.workspace_name = test.team.clone();
        subject.enterprise_id = test.enterprise_id.clone();
        subject.user_id = test.user_id.clone();
        subject.bot_id = if is_bot { test.user_id.clone() } else { None };
        info.grantee = subject;
        for (key, value) in [
            ("url", &test.url),
            ("user", &test.user),
            ("bot_id", &test.bot_id),
            ("app_id", &test.app_id),
            ("app_name", &test.app_name),
        ] {
            if let Some(value) = value {
                info.extras.insert(key, value.as_str().into());
            }
        }
        info.extras
            .insert("is_enterprise_install", test.is_enterprise_install.into());
        Ok(info)
    }
}

#[async_trait]
impl Revoke for SlackClient {
    /// `auth.revoke` (not in test mode). As RFC 7009 asks, a token that is already unusable
    /// (`token_revoked`, `invalid_auth`, `token_expired`, `account_inactive`) counts as revoked;
    /// [`SlackClient::auth_revoke`] reports those answers as errors.
    async fn revoke(&self, token: &AccessToken) -> Result<()> {
        match self.auth_revoke(token, &AuthRevokeRequest::new()).await {
            Ok(_) => Ok(()),
            Err(error) => {
                let gone = error
                    .provider_error()
                    .and_then(|e| e.downcast_ref::<SlackError>())
                    .is_some_and(|e| {
                        e.code().means_inactive_token() && e.code() != &SlackErrorCode::NotAuthed
                    });
                if gone {
                    tracing::debug!("auth.revoke: the token was already unusable");
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }
}

impl TokenProvider for SlackClient {
    fn provider_id(&self) -> ProviderId {
        PROVIDER
    }

    /// The v2 install URL ([`SlackClient::oauth_v2_authorize_url`]); for a user-only client the
    /// user-only one ([`SlackClient::oauth_v2_user_authorize_url`]).
    fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        if self.is_user_only_install() {
            return self.oauth_v2_user_authorize_url(request);
        }
        self.oauth_v2_authorize_url(request)
    }
}
