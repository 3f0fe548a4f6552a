//! The Notion client: configuration, the authorization URL and the four OAuth endpoints.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use oauth_core::http::{
    Call, HttpClient, HttpRequest, HttpResponse, Idempotency, ResponseClass, basic_auth,
    check_endpoint, retry_after,
};
use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, ClientSecret, Error, Grantee,
    RefreshToken, Result, ScopeSeparator, Scopes, TokenInfo, TokenSet, TokenType,
    check_redirect_uri,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use url::Url;

use crate::PROVIDER;
use crate::decode::{decode_introspect_response, decode_revoke_response, decode_token_response};
use crate::types::{ExternalAccount, IntrospectResponse, OwnerJson, RevokeResponse, TokenResponse};

/// The API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.notion.com";

/// The `Notion-Version` sent by default: the one `@notionhq/client` 5 sends
/// (`Client.defaultNotionVersion`).
pub const DEFAULT_NOTION_VERSION: &str = "2025-09-03";

/// The operations, as named in errors and traces.
pub(crate) const TOKEN: &str = "oauth/token";
pub(crate) const INTROSPECT: &str = "oauth/introspect";
pub(crate) const REVOKE: &str = "oauth/revoke";

/// A Notion public integration's OAuth client.
///
/// Cheap to clone (the HTTP client is shared). Client credentials go only in the
/// `Authorization: Basic` header, never in a body.
#[derive(Clone)]
pub struct NotionClient {
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: Option<String>,
    base_url: Url,
    notion_version: http::HeaderValue,
    http: HttpClient,
    /// Whether plain `http` off loopback is allowed (base URL and redirect URIs).
    allow_insecure_http: bool,
    /// Worked out once at build: the headers of every call (`Authorization: Basic …`, marked
    /// sensitive, `Content-Type` and `Notion-Version`) and the three endpoints, so that a call does
    /// no URL, header or base64 work.
    headers: http::HeaderMap,
    token_uri: http::Uri,
    introspect_uri: http::Uri,
    revoke_uri: http::Uri,
}

impl fmt::Debug for NotionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotionClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("redirect_uri", &self.redirect_uri)
            .field("base_url", &self.base_url.as_str())
            .field("notion_version", &self.notion_version())
            .finish_non_exhaustive()
    }
}

/// Configures a [`NotionClient`].
#[derive(Debug)]
pub struct NotionClientBuilder {
    client_id: String,
    client_secret: ClientSecret,
    redirect_uri: Option<String>,
    base_url: String,
    notion_version: String,
    http: Option<HttpClient>,
    allow_insecure_http: bool,
}

impl NotionClientBuilder {
    /// The redirect URI registered for the integration, used in authorization URLs and code
    /// exchanges unless a request names another.
    ///
    /// [`build`](Self::build) refuses one that [`check_redirect_uri`] refuses: not an absolute
    /// URL, with a fragment or whitespace, or plain `http` on a host that is not loopback (unless
    /// [`allow_insecure_http`](Self::allow_insecure_http)).
    pub fn redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The API base URL (default [`DEFAULT_BASE_URL`]), as `@notionhq/client`'s `baseUrl`: without
    /// `/v1`. Point it at `oauth-sandbox` or a proxy.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The `Notion-Version` header (default [`DEFAULT_NOTION_VERSION`]).
    pub fn notion_version(mut self, version: impl Into<String>) -> Self {
        self.notion_version = version.into();
        self
    }

    /// The HTTP client (transport and retry policy). By default, oauth-core's reqwest transport
    /// and default retry policy.
    pub fn http_client(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }

    /// Allows a plain-`http` base URL and redirect URIs that are not loopback (credentials and
    /// authorization codes would travel in clear). Loopback (`127.0.0.1`, `[::1]`, `localhost`)
    /// is always allowed.
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Builds the client. Fails with [`Error::Configuration`] on an empty client id or secret,
    /// an invalid `Notion-Version`, an invalid or plain-http base URL, or a redirect URI that
    /// [`check_redirect_uri`] refuses.
    pub fn build(self) -> Result<NotionClient> {
        if self.client_id.trim().is_empty() {
            return Err(Error::configuration("the Notion OAuth client id is empty"));
        }
        if self.client_secret.expose_secret().is_empty() {
            return Err(Error::configuration(
                "the Notion OAuth client secret is empty",
            ));
        }
        if self.client_id.contains(':') {
            return Err(Error::configuration(
                "a Notion client id cannot contain `:` (it would break HTTP Basic credentials)",
            ));
        }
        if self.notion_version.trim().is_empty() {
            return Err(Error::configuration("the Notion-Version is empty"));
        }
        let mut base = self.base_url.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let base_url = Url::parse(&base).map_err(|e| {
            Error::configuration(format!("invalid Notion base URL {:?}: {e}", self.base_url))
        })?;
        check_endpoint(&base_url, self.allow_insecure_http)?;
        if let Some(redirect_uri) = &self.redirect_uri {
            check_redirect_uri(redirect_uri, self.allow_insecure_http)?;
        }
        let http = match self.http {
            Some(http) => http,
            None => default_http()?,
        };
        let uri = |path: &str| -> Result<http::Uri> {
            let url = base_url.join(path).map_err(|e| {
                Error::configuration(format!("cannot build the Notion URL for {path}: {e}"))
            })?;
            url.as_str()
                .parse()
                .map_err(|e| Error::configuration(format!("invalid Notion URL {url}: {e}")))
        };
        let notion_version = http::HeaderValue::from_str(&self.notion_version).map_err(|_| {
            Error::configuration(format!("invalid Notion-Version {:?}", self.notion_version))
        })?;
        let mut headers = http::HeaderMap::with_capacity(3);
        headers.insert(
            http::header::AUTHORIZATION,
            basic_auth(&self.client_id, &self.client_secret)?,
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            http::HeaderName::from_static("notion-version"),
            notion_version.clone(),
        );
        Ok(NotionClient {
            headers,
            token_uri: uri("v1/oauth/token")?,
            introspect_uri: uri("v1/oauth/introspect")?,
            revoke_uri: uri("v1/oauth/revoke")?,
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uri: self.redirect_uri,
            base_url,
            notion_version,
            http,
            allow_insecure_http: self.allow_insecure_http,
        })
    }
}

#[cfg(feature = "reqwest")]
fn default_http() -> Result<HttpClient> {
    HttpClient::with_default_transport()
}

#[cfg(not(feature = "reqwest"))]
fn default_http() -> Result<HttpClient> {
    Err(Error::configuration(
        "no HTTP client: enable the `reqwest` feature or call NotionClientBuilder::http_client",
    ))
}

/// The JSON body of `POST /v1/oauth/token`: only the fields of the grant, as the official SDK
/// sends (client credentials never go here).
#[derive(Serialize)]
struct TokenRequest<'a> {
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
struct TokenBody<'a> {
    token: &'a str,
}

impl NotionClient {
    /// The HTTP client the calls go through.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Starts configuring a client with the integration's OAuth client id and secret.
    ///
    /// ```
    /// use oauth_notion::NotionClient;
    /// let client = NotionClient::builder("463558a3-725e-4f37-b6d3-0889894f68de", "secret")
    ///     .redirect_uri("https://example.com/auth/notion/callback")
    ///     .build()?;
    /// # Ok::<(), oauth_core::Error>(())
    /// ```
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> NotionClientBuilder {
        NotionClientBuilder {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            redirect_uri: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            notion_version: DEFAULT_NOTION_VERSION.to_owned(),
            http: None,
            allow_insecure_http: false,
        }
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The default redirect URI.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The `Notion-Version` sent.
    pub fn notion_version(&self) -> &str {
        self.notion_version.to_str().unwrap_or_default()
    }

    fn endpoint(&self, path: &str) -> Result<Url> {
        self.base_url.join(path).map_err(|e| {
            Error::configuration(format!("cannot build the Notion URL for {path}: {e}"))
        })
    }

    /// The browser URL `GET /v1/oauth/authorize?client_id=…&response_type=code&owner=user&redirect_uri=…&state=…`.
    ///
    /// Notion has no OAuth scopes (capabilities are set on the integration) and no PKCE, so a
    /// request with scopes or a PKCE verifier is refused rather than silently ignored. The
    /// redirect URI (the request's, else the client's) is checked as
    /// [`AuthorizationRequest::to_url`] says: a relative one, one with a fragment, or plain
    /// `http` off loopback (unless the client allows insecure http) is a configuration error.
    pub fn authorization_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        if !request.requested_scopes().is_empty() {
            return Err(Error::InvalidRequest(
                "Notion has no OAuth scopes: set the integration's capabilities in its settings instead".into(),
            ));
        }
        if request.verifier().is_some() {
            return Err(Error::InvalidRequest(
                "Notion's authorization endpoint does not support PKCE".into(),
            ));
        }
        let request = match (request.redirect_uri_value(), &self.redirect_uri) {
            (None, Some(default)) => request.clone().redirect_uri(default.clone()),
            _ => request.clone(),
        };
        request.to_url(
            &self.endpoint("v1/oauth/authorize")?,
            &[
                ("client_id", &self.client_id),
                ("response_type", "code"),
                ("owner", "user"),
            ],
            "scope",
            ScopeSeparator::Space,
            self.allow_insecure_http,
        )
    }

    /// `POST /v1/oauth/token` with `grant_type=authorization_code`: the full response.
    ///
    /// `redirect_uri` defaults to the client's; one given here is checked first
    /// ([`check_redirect_uri`]: a configuration error, and nothing is sent, so the code is not
    /// spent). Pass `external_account` for Link Preview integrations. Never resent once it may
    /// have reached Notion (codes are single-use).
    pub async fn create_token(
        &self,
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        external_account: Option<&ExternalAccount>,
    ) -> Result<TokenResponse> {
        self.create_token_with(code, redirect_uri, external_account, decode_token_response)
            .await
    }

    /// [`create_token`](Self::create_token), decoding the answer with `decode`.
    pub(crate) async fn create_token_with(
        &self,
        code: &AuthorizationCode,
        redirect_uri: Option<&str>,
        external_account: Option<&ExternalAccount>,
        decode: fn(&HttpResponse) -> Result<TokenResponse>,
    ) -> Result<TokenResponse> {
        if let Some(redirect_uri) = redirect_uri {
            check_redirect_uri(redirect_uri, self.allow_insecure_http)?;
        }
        // (The body is gone before the wait: the future keeps only its bytes.)
        let sending = {
            let body = TokenRequest {
                grant_type: "authorization_code",
                code: Some(code.expose_secret()),
                redirect_uri: redirect_uri.or(self.redirect_uri.as_deref()),
                external_account,
                refresh_token: None,
            };
            self.post(TOKEN, &self.token_uri, &body, Idempotency::SingleUse)?
        };
        let response = sending.await?;
        decode(&response)
    }

    /// `POST /v1/oauth/token` with `grant_type=refresh_token`: the full response. Notion rotates
    /// the refresh token. Never resent once it may have reached Notion.
    pub async fn refresh_token(&self, refresh_token: &RefreshToken) -> Result<TokenResponse> {
        self.refresh_token_with(refresh_token, decode_token_response)
            .await
    }

    /// [`refresh_token`](Self::refresh_token), decoding the answer with `decode`.
    pub(crate) async fn refresh_token_with(
        &self,
        refresh_token: &RefreshToken,
        decode: fn(&HttpResponse) -> Result<TokenResponse>,
    ) -> Result<TokenResponse> {
        // (The body is gone before the wait: the future keeps only its bytes.)
        let sending = {
            let body = TokenRequest {
                grant_type: "refresh_token",
                code: None,
                redirect_uri: None,
                external_account: None,
                refresh_token: Some(refresh_token.expose_secret()),
            };
            self.post(TOKEN, &self.token_uri, &body, Idempotency::SingleUse)?
        };
        let response = sending.await?;
        decode(&response)
    }

    /// `POST /v1/oauth/introspect`: the raw answer. Prefer [`Introspect::introspect`]
    /// (oauth_core), which also maps an `invalid_grant`/`unauthorized` refusal to an inactive token.
    ///
    /// [`Introspect::introspect`]: oauth_core::Introspect::introspect
    pub async fn introspect_token(&self, token: &AccessToken) -> Result<IntrospectResponse> {
        let body = TokenBody {
            token: token.expose_secret(),
        };
        let response = self
            .post(
                INTROSPECT,
                &self.introspect_uri,
                &body,
                Idempotency::Idempotent,
            )?
            .await?;
        decode_introspect_response(&response)
    }

    /// `POST /v1/oauth/revoke`.
    pub async fn revoke_token(&self, token: &AccessToken) -> Result<RevokeResponse> {
        let body = TokenBody {
            token: token.expose_secret(),
        };
        let response = self
            .post(REVOKE, &self.revoke_uri, &body, Idempotency::Idempotent)?
            .await?;
        decode_revoke_response(&response)
    }

    /// POSTs `body` as JSON to `uri`: the call's future, or the error of encoding the body. The
    /// body is serialized before the future is made, so that the future keeps only its bytes (an
    /// `async fn` would keep the body, and the request it makes, across the wait).
    fn post<'a, B: Serialize>(
        &'a self,
        operation: &'static str,
        uri: &'a http::Uri,
        body: &B,
        idempotency: Idempotency,
    ) -> Result<impl Future<Output = Result<HttpResponse>> + Send + use<'a, B>> {
        let json = serde_json::to_vec(body)
            .map_err(|e| Error::Internal(format!("cannot encode the {operation} body: {e}")))?;
        Ok(async move {
            let call = Call::new(PROVIDER, operation, idempotency);
            self.http
                .execute(&call, self.request(uri, json), classify)
                .await
        })
    }

    /// The HTTP request of a call: `POST` of `json` to `uri`, with the client's headers.
    fn request(&self, uri: &http::Uri, json: Vec<u8>) -> HttpRequest {
        let mut request = http::Request::new(Bytes::from(json));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }

    /// Maps a token response into the common [`TokenSet`], received at `issued_at`.
    ///
    /// The grantee is the workspace (id, name) and the bot (`bot_id`), with the owner user's id.
    /// Notion sends no `expires_in`, so `expires_at` is `None`. The workspace icon, owner,
    /// duplicated template id and request id go to the extras (read them with
    /// [`NotionExtras::of`](crate::NotionExtras::of)).
    pub fn token_set(mut response: TokenResponse, issued_at: SystemTime) -> TokenSet {
        let owner_json = response.take_owner_json();
        let token_type = match response.token_type.as_deref() {
            Some(t) if !t.is_empty() && !t.starts_with('<') => TokenType::parse(t),
            _ => TokenType::Bearer,
        };
        let mut tokens = TokenSet::new(PROVIDER, response.access_token, token_type, issued_at);
        tokens.refresh_token = response.refresh_token;
        tokens.scopes = Scopes::new();
        let mut grantee = Grantee::new();
        grantee.workspace_id = response.workspace_id;
        grantee.workspace_name = response.workspace_name;
        grantee.bot_id = response.bot_id;
        // The owner's `user.id`, from the JSON as received when there is one.
        grantee.user_id = match &owner_json {
            Some(OwnerJson::Tree(json)) => user_id_in_tree(json),
            Some(OwnerJson::Text(json)) => owner_user_id(json),
            None => response
                .owner
                .as_ref()
                .and_then(|o| o.user())
                .and_then(|u| u.id.clone()),
        };
        tokens.grantee = grantee;
        if let Some(icon) = response.workspace_icon {
            tokens.extras.insert("workspace_icon", icon.into());
        }
        // The owner as Notion sent it (it reads back as the same `Owner`); re-serialized only
        // when the response did not come off the wire.
        match (owner_json, &response.owner) {
            (Some(OwnerJson::Tree(json)), _) => tokens.extras.insert("owner", json),
            (Some(OwnerJson::Text(json)), _) => tokens.extras.insert_json("owner", json),
            (None, Some(owner)) => tokens.extras.insert_serialized("owner", owner),
            (None, None) => {}
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

/// The owner's `user.id` read from the owner object's text: the string at `user.id`, as
/// [`user_id_in_tree`] finds it.
fn owner_user_id(owner: &RawValue) -> Option<String> {
    #[derive(Deserialize)]
    struct OwnerIds {
        #[serde(default)]
        user: Option<UserIds>,
    }
    #[derive(Deserialize)]
    struct UserIds {
        #[serde(default)]
        id: Option<String>,
    }
    match serde_json::from_str::<OwnerIds>(owner.get()) {
        Ok(owner) => owner.user.and_then(|user| user.id),
        // An odd shape (`user` not an object, an id not a string, a repeated key): read as a
        // tree, as the typed response reads it.
        Err(_) => serde_json::from_str::<serde_json::Value>(owner.get())
            .ok()
            .as_ref()
            .and_then(user_id_in_tree),
    }
}

/// The string at `user.id` in an owner object.
fn user_id_in_tree(owner: &serde_json::Value) -> Option<String> {
    owner
        .get("user")
        .and_then(|user| user.get("id"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Retry classification: 429 and 529 (`service_overload`) mean "not processed, come back later";
/// 500/502/503/504 are transient.
fn classify(response: &HttpResponse) -> ResponseClass {
    match response.status().as_u16() {
        429 | 529 => ResponseClass::RateLimited {
            retry_after: retry_after(response.headers(), SystemTime::now()),
        },
        500 | 502 | 503 | 504 => ResponseClass::Transient,
        _ => ResponseClass::Final,
    }
}
