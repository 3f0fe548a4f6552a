//! The oauth-core traits, implemented on [`NotionClient`].

use async_trait::async_trait;
use oauth_core::{
    AccessToken, AuthorizationRequest, CodeExchange, Error, Grant, Installation, InstallationKey,
    Introspect, Principal, ProviderId, RefreshToken, Result, Revoke, TokenGrant, TokenInfo,
    TokenProvider, TokenSet, UndecodableResponse,
};
use url::Url;

use crate::PROVIDER;
use crate::client::NotionClient;
use crate::error::{NotionError, NotionErrorCode};
use crate::oauth::{CreateTokenRequest, RefreshTokenRequest};
use crate::types::ExternalAccount;

/// The [`CodeExchange::extras`] key for a Link Preview integration's `external_account`
/// (`{"key": "…", "name": "…"}`).
pub const EXTERNAL_ACCOUNT: &str = "external_account";

#[async_trait]
impl TokenGrant for NotionClient {
    /// `POST /v1/oauth/token` (`authorization_code`). The exchange's redirect URI (or the client's)
    /// is sent; `extras["external_account"]` becomes the `external_account` object.
    ///
    /// The grant is one installation per authorization, keyed by the answer's `bot_id` (Notion
    /// creates a bot per authorization), holding the bot's token set; its record's details are
    /// the workspace (`workspace_id`, `workspace_name`) and the token set's extras (the owner,
    /// the icon, a duplicated template).
    async fn exchange_code(&self, exchange: CodeExchange) -> Result<Grant> {
        if exchange.pkce_verifier.is_some() {
            return Err(Error::InvalidRequest(
                "Notion's token endpoint does not support PKCE (no code_verifier)".into(),
            ));
        }
        let external_account = match exchange.extras.get(EXTERNAL_ACCOUNT) {
            None => None,
            Some(_) => Some(
                exchange
                    .extras
                    .get_as::<ExternalAccount>(EXTERNAL_ACCOUNT)
                    .ok_or_else(|| {
                        Error::InvalidRequest(
                            "`external_account` must be an object with string `key` and `name`"
                                .into(),
                        )
                    })?,
            ),
        };
        let mut request = CreateTokenRequest::from(exchange);
        request.external_account = external_account;
        let response = self.create_token(&request).await?;
        let now = self.common().now();
        let tokens = NotionClient::token_set(response, now);
        tracing::debug!(workspace_id = ?tokens.grantee.workspace_id, bot_id = ?tokens.grantee.bot_id, "notion code exchanged");
        grant_of(tokens, now)
    }

    /// `POST /v1/oauth/token` (`refresh_token`). If Notion answers without a refresh token, the
    /// one passed in is kept: a stored refresh token is never overwritten with nothing.
    async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        let response = self
            .refresh_token(&RefreshTokenRequest::new(refresh_token.clone()))
            .await?;
        let mut tokens = NotionClient::token_set(response, self.common().now());
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        tracing::debug!(workspace_id = ?tokens.grantee.workspace_id, bot_id = ?tokens.grantee.bot_id, "notion token refreshed");
        Ok(tokens)
    }

    /// The HTTP client's bound on one call ([`HttpClient::call_time_bound`](oauth_core::http::HttpClient::call_time_bound)).
    fn refresh_time_bound(&self) -> Option<std::time::Duration> {
        self.common().http().call_time_bound()
    }
}

/// The grant of a code exchange's token set: one installation keyed by the bot id.
fn grant_of(tokens: TokenSet, now: std::time::SystemTime) -> Result<Grant> {
    let grantee = &tokens.grantee;
    let bot = grantee
        .bot_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            Error::undecodable(UndecodableResponse {
                provider: PROVIDER,
                operation: "oauth/token",
                status: http::StatusCode::OK,
                content_type: None,
                reason: "the token answer names no `bot_id`, which keys the installation".into(),
                snippet: String::new(),
            })
        })?;
    let mut installation = Installation::new(InstallationKey::new(PROVIDER, bot), now);
    installation.details = tokens.extras.clone();
    for (name, value) in [
        ("workspace_id", &grantee.workspace_id),
        ("workspace_name", &grantee.workspace_name),
    ] {
        if let Some(value) = value {
            installation.details.insert(name, value.clone().into());
        }
    }
    Ok(Grant::new(installation).with_tokens(Principal::Bot, tokens))
}

#[async_trait]
impl Introspect for NotionClient {
    /// `POST /v1/oauth/introspect`. `{"active": false}`, and a refusal of the token itself
    /// (`invalid_grant`, `unauthorized`), are an inactive [`TokenInfo`] whose `inactive_reason` is
    /// the code; a bad client credential or an outage stays an error.
    async fn introspect(&self, token: &AccessToken) -> Result<TokenInfo> {
        match self.introspect_token(token).await {
            Ok(response) => Ok(NotionClient::token_info(response)),
            Err(error) => {
                let refused = error
                    .provider_error()
                    .and_then(|e| e.downcast_ref::<NotionError>())
                    .filter(|e| {
                        matches!(
                            e.code(),
                            NotionErrorCode::InvalidGrant | NotionErrorCode::Unauthorized
                        )
                    })
                    .map(|e| e.code().to_string());
                match refused {
                    Some(code) => Ok(TokenInfo::inactive(Some(code))),
                    None => Err(error),
                }
            }
        }
    }
}

#[async_trait]
impl Revoke for NotionClient {
    /// `POST /v1/oauth/revoke`.
    async fn revoke(&self, token: &AccessToken) -> Result<()> {
        self.revoke_token(token).await.map(|_| ())
    }
}

impl TokenProvider for NotionClient {
    fn provider_id(&self) -> ProviderId {
        PROVIDER
    }

    fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        NotionClient::authorization_url(self, request)
    }
}
