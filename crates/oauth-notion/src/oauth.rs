//! Notion's OAuth endpoints: `POST /v1/oauth/token` (code exchange and refresh), `POST
//! /v1/oauth/introspect` and `POST /v1/oauth/revoke`, with their request bodies and the mapping of
//! their answers into the common [`TokenSet`] and [`TokenInfo`].

use std::time::SystemTime;

use oauth_core::http::{HttpResponse, Idempotency};
use oauth_core::{
    AccessToken, AuthorizationCode, CodeExchange, Grantee, RefreshToken, Result, Scopes, TokenInfo,
    TokenSet, TokenType,
};
use serde::Serialize;

use crate::PROVIDER;
use crate::client::NotionClient;
use crate::types::{ExternalAccount, IntrospectResponse, Owner, RevokeResponse, TokenResponse};
use crate::wire::{NotionResponse, decode_response};

/// The arguments of a code exchange (`POST /v1/oauth/token`, `grant_type=authorization_code`).
///
/// ```
/// use oauth_core::AuthorizationCode;
/// use oauth_notion::{CreateTokenRequest, ExternalAccount};
/// let request = CreateTokenRequest::new(AuthorizationCode::new("code-from-the-callback"))
///     .redirect_uri("https://example.com/auth/notion/callback")
///     .external_account(ExternalAccount { key: "acct-7".into(), name: "Ada".into() });
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CreateTokenRequest {
    /// `code`: the code from the redirect.
    pub code: AuthorizationCode,
    /// `redirect_uri`: the one of the authorization URL; the client's default when `None`.
    /// Checked before anything is sent ([`oauth_core::check_redirect_uri`]).
    pub redirect_uri: Option<String>,
    /// `external_account`, for Link Preview integrations.
    pub external_account: Option<ExternalAccount>,
}

impl CreateTokenRequest {
    /// An exchange of `code`.
    pub fn new(code: AuthorizationCode) -> Self {
        Self {
            code,
            redirect_uri: None,
            external_account: None,
        }
    }

    /// Sets `redirect_uri`.
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// Sets `external_account`.
    pub fn external_account(mut self, account: ExternalAccount) -> Self {
        self.external_account = Some(account);
        self
    }
}

/// The exchange of a verified callback: its code and redirect URI (Notion has no PKCE; a
/// verifier is refused by [`TokenGrant::exchange_code`](oauth_core::TokenGrant::exchange_code)).
impl From<CodeExchange> for CreateTokenRequest {
    fn from(exchange: CodeExchange) -> Self {
        Self {
            code: exchange.code,
            redirect_uri: exchange.redirect_uri,
            external_account: None,
        }
    }
}

/// The arguments of a refresh (`POST /v1/oauth/token`, `grant_type=refresh_token`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RefreshTokenRequest {
    /// `refresh_token`. Notion rotates it: spent by this call.
    pub refresh_token: RefreshToken,
}

impl RefreshTokenRequest {
    /// A refresh of `refresh_token`.
    pub fn new(refresh_token: RefreshToken) -> Self {
        Self { refresh_token }
    }
}

/// The JSON body of `POST /v1/oauth/token`: only the fields of the grant, as the official SDK
/// sends (client credentials never go here).
#[derive(Serialize)]
struct TokenBody<'a> {
    grant_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_account: Option<&'a ExternalAccount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The JSON body of introspect and revoke.
#[derive(Serialize)]
struct TokenOnlyBody<'a> {
    token: &'a str,
}

impl NotionResponse for TokenResponse {
    const OPERATION: &'static str = "oauth/token";

    /// Refuses an answer whose `access_token` is empty (undecodable): it would be stored as a
    /// token that can never work.
    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        let decoded: Self = decode_response(Self::OPERATION, response)?;
        if decoded.access_token.expose_secret().trim().is_empty() {
            return Err(oauth_core::http::undecodable(
                &PROVIDER,
                Self::OPERATION,
                response,
                "the access token is empty",
            ));
        }
        Ok(decoded)
    }
}

impl NotionResponse for IntrospectResponse {
    const OPERATION: &'static str = "oauth/introspect";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        decode_response(Self::OPERATION, response)
    }
}

impl NotionResponse for RevokeResponse {
    const OPERATION: &'static str = "oauth/revoke";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        decode_response(Self::OPERATION, response)
    }
}

impl NotionClient {
    /// `POST /v1/oauth/token` with `grant_type=authorization_code`: the full response.
    ///
    /// `redirect_uri` defaults to the client's; one given is checked first
    /// ([`oauth_core::check_redirect_uri`]: a configuration error, and nothing is sent, so the
    /// code is not spent). Never resent once it may have reached Notion (codes are single-use).
    pub async fn create_token(&self, request: &CreateTokenRequest) -> Result<TokenResponse> {
        let redirect_uri = self
            .common()
            .exchange_redirect_uri(request.redirect_uri.as_deref())?;
        let body = TokenBody {
            grant_type: "authorization_code",
            code: Some(request.code.expose_secret()),
            redirect_uri,
            external_account: request.external_account.as_ref(),
            refresh_token: None,
        };
        self.call(Idempotency::SingleUse, &body).await
    }

    /// `POST /v1/oauth/token` with `grant_type=refresh_token`: the full response. Notion rotates
    /// the refresh token. Never resent once it may have reached Notion.
    pub async fn refresh_token(&self, request: &RefreshTokenRequest) -> Result<TokenResponse> {
        let body = TokenBody {
            grant_type: "refresh_token",
            code: None,
            redirect_uri: None,
            external_account: None,
            refresh_token: Some(request.refresh_token.expose_secret()),
        };
        self.call(Idempotency::SingleUse, &body).await
    }

    /// `POST /v1/oauth/introspect`: the raw answer. Prefer [`Introspect::introspect`]
    /// (oauth_core), which also maps an `invalid_grant`/`unauthorized` refusal to an inactive token.
    ///
    /// [`Introspect::introspect`]: oauth_core::Introspect::introspect
    pub async fn introspect_token(&self, token: &AccessToken) -> Result<IntrospectResponse> {
        let body = TokenOnlyBody {
            token: token.expose_secret(),
        };
        self.call(Idempotency::Idempotent, &body).await
    }

    /// `POST /v1/oauth/revoke`.
    pub async fn revoke_token(&self, token: &AccessToken) -> Result<RevokeResponse> {
        let body = TokenOnlyBody {
            token: token.expose_secret(),
        };
        self.call(Idempotency::Idempotent, &body).await
    }

    /// Maps a token response into the common [`TokenSet`], received at `issued_at`.
    ///
    /// The grantee is the workspace (id, name) and the bot (`bot_id`), with the owner user's id.
    /// Notion sends no `expires_in` today, so `expires_at` is `None`; one it sends is honoured
    /// (clamped as [`oauth_core::expiry_from`] says). The workspace icon, owner,
    /// duplicated template id and request id go to the extras (read them with
    /// [`NotionExtras::from_token_set`](crate::NotionExtras::from_token_set)).
    pub fn token_set(response: TokenResponse, issued_at: SystemTime) -> TokenSet {
        let token_type = match response.token_type.as_deref() {
            Some(t) if !t.is_empty() && !t.starts_with('<') => TokenType::parse(t),
            _ => TokenType::Bearer,
        };
        let mut tokens = TokenSet::builder(PROVIDER, response.access_token)
            .token_type(token_type)
            .issued_at(issued_at)
            .build();
        tokens.refresh_token = response.refresh_token;
        if let Some(expires_in) = response.expires_in {
            tokens.set_expires_in(expires_in);
        }
        tokens.scopes = Scopes::new();
        let mut grantee = Grantee::new();
        grantee.workspace_id = response.workspace_id;
        grantee.workspace_name = response.workspace_name;
        grantee.bot_id = response.bot_id;
        grantee.user_id = response.owner.as_ref().and_then(owner_user_id);
        tokens.grantee = grantee;
        if let Some(icon) = response.workspace_icon {
            tokens.extras.insert("workspace_icon", icon.into());
        }
        // The owner as JSON text, made a tree only if the extras are read.
        if let Some(owner) = response
            .owner
            .as_ref()
            .and_then(|owner| serde_json::value::to_raw_value(owner).ok())
        {
            tokens.extras.insert_json("owner", owner);
        }
        if let Some(template) = response.duplicated_template_id {
            tokens
                .extras
                .insert("duplicated_template_id", template.into());
        }
        if let Some(request_id) = response.request_id {
            tokens.extras.insert("request_id", request_id.into());
        }
        tokens
    }

    /// Maps an introspection answer into the common [`TokenInfo`].
    pub fn token_info(response: IntrospectResponse) -> TokenInfo {
        let mut info = if response.active {
            TokenInfo::active()
        } else {
            TokenInfo::inactive(None)
        };
        info.scopes = response
            .scope
            .as_deref()
            .map(Scopes::parse)
            .unwrap_or_default();
        info.issued_at = response.iat.and_then(|iat| {
            u64::try_from(iat).ok().and_then(|secs| {
                SystemTime::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(secs))
            })
        });
        if let Some(request_id) = response.request_id {
            info.extras.insert("request_id", request_id.into());
        }
        info
    }
}

/// The owner's user id: the user's, or the string at `user.id` of an owner of another shape.
fn owner_user_id(owner: &Owner) -> Option<String> {
    match owner {
        Owner::User { user } => user.id.clone(),
        Owner::Other { raw } => raw
            .get("user")
            .and_then(|user| user.get("id"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}
