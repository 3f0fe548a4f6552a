//! [`NotionClient`] and its builder: the integration's credentials, the endpoints, the HTTP client.

use std::fmt;
use std::sync::Arc;

use oauth_core::http::{basic_auth, endpoint_uri, parse_base_url};
use oauth_core::{ClientCommon, ClientSecret, ClientSettings, Error, Result};
use url::Url;

use crate::wire::NotionResponse;
use crate::{IntrospectResponse, RevokeResponse, TokenResponse};

/// The API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.notion.com";

/// The `Notion-Version` sent by default: the one `@notionhq/client` 5 sends
/// (`Client.defaultNotionVersion`).
pub const DEFAULT_NOTION_VERSION: &str = "2025-09-03";

/// A Notion public integration's OAuth client.
///
/// Cheap to clone (the state is shared). Client credentials go only in the
/// `Authorization: Basic` header, never in a body. Build one with [`NotionClient::builder`]:
///
/// ```
/// use oauth_notion::NotionClient;
/// let client = NotionClient::builder("463558a3-725e-4f37-b6d3-0889894f68de", "secret_value")
///     .redirect_uri("https://example.com/auth/notion/callback")
///     .build()?;
/// assert!(!format!("{client:?}").contains("secret_value"));
/// # Ok::<(), oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct NotionClient {
    inner: Arc<Inner>,
}

struct Inner {
    client_id: String,
    client_secret: ClientSecret,
    base_url: Url,
    notion_version: http::HeaderValue,
    /// The headers of every call: `Authorization: Basic …` (marked sensitive), `Content-Type`
    /// and `Notion-Version`.
    headers: http::HeaderMap,
    /// The URI of each endpoint (`oauth/token`, …), made and checked at build.
    endpoints: Vec<(&'static str, http::Uri)>,
    /// The redirect URI, HTTP client, clock and `allow_insecure_http`.
    common: ClientCommon,
}

impl fmt::Debug for NotionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("NotionClient")
            .field("client_id", &inner.client_id)
            .field("client_secret", &inner.client_secret)
            .field("redirect_uri", &inner.common.redirect_uri())
            .field("base_url", &inner.base_url.as_str())
            .field("notion_version", &self.notion_version())
            .finish_non_exhaustive()
    }
}

impl NotionClient {
    /// Starts configuring a client with the integration's OAuth client id and secret.
    pub fn builder(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> NotionClientBuilder {
        NotionClientBuilder {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            notion_version: DEFAULT_NOTION_VERSION.to_owned(),
            settings: ClientSettings::default(),
        }
    }

    /// The OAuth client id.
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The default redirect URI.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.inner.common.redirect_uri()
    }

    /// The `Notion-Version` sent.
    pub fn notion_version(&self) -> &str {
        self.inner.notion_version.to_str().unwrap_or_default()
    }

    /// The API base URL (ends with `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// The redirect URI, HTTP client, clock and `allow_insecure_http`.
    pub(crate) fn common(&self) -> &ClientCommon {
        &self.inner.common
    }

    /// The headers every call sends.
    pub(crate) fn headers(&self) -> &http::HeaderMap {
        &self.inner.headers
    }

    /// The URI of the endpoint of `operation` (`oauth/token`, …): `v1/<operation>` under the base
    /// URL.
    pub(crate) fn endpoint_uri(&self, operation: &str) -> Result<http::Uri> {
        match self.inner.endpoints.iter().find(|(op, _)| *op == operation) {
            Some((_, uri)) => Ok(uri.clone()),
            None => endpoint_uri(&self.inner.base_url, &format!("v1/{operation}")),
        }
    }

    /// The browser URL at `path` under the base URL.
    pub(crate) fn browser_url(&self, path: &str) -> Result<Url> {
        self.inner
            .base_url
            .join(path)
            .map_err(|e| Error::configuration(format!("cannot build the URL of {path}: {e}")))
    }
}

/// Builds a [`NotionClient`]. See [`NotionClient::builder`].
#[derive(Debug)]
pub struct NotionClientBuilder {
    client_id: String,
    client_secret: ClientSecret,
    base_url: String,
    notion_version: String,
    settings: ClientSettings,
}

impl NotionClientBuilder {
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

    oauth_core::client_builder_methods!();

    /// Builds the client. Fails with [`Error::Configuration`] on an empty client id or secret,
    /// an invalid `Notion-Version`, an invalid or plain-http base URL, or a redirect URI that
    /// [`check_redirect_uri`](oauth_core::check_redirect_uri) refuses.
    pub fn build(self) -> Result<NotionClient> {
        let allow_insecure_http = self.settings.allow_insecure_http;
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
        let base_url = parse_base_url("Notion base", &self.base_url, allow_insecure_http)?;
        let common = self.settings.build()?;
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
        let endpoints = [
            TokenResponse::OPERATION,
            IntrospectResponse::OPERATION,
            RevokeResponse::OPERATION,
        ]
        .into_iter()
        .map(|op| Ok((op, endpoint_uri(&base_url, &format!("v1/{op}"))?)))
        .collect::<Result<_>>()?;
        Ok(NotionClient {
            inner: Arc::new(Inner {
                client_id: self.client_id,
                client_secret: self.client_secret,
                base_url,
                notion_version,
                headers,
                endpoints,
                common,
            }),
        })
    }
}
