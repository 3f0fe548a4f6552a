//! The authorization URL: `GET /v1/oauth/authorize`.

use oauth_core::{AuthorizationRequest, Error, Result, ScopeSeparator};
use url::Url;

use crate::client::NotionClient;

impl NotionClient {
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
        let request = match (request.redirect_uri_value(), self.redirect_uri()) {
            (None, Some(default)) => request.clone().redirect_uri(default),
            _ => request.clone(),
        };
        request.to_url(
            &self.browser_url("v1/oauth/authorize")?,
            &[
                ("client_id", self.client_id()),
                ("response_type", "code"),
                ("owner", "user"),
            ],
            "scope",
            ScopeSeparator::Space,
            self.common().allow_insecure_http(),
        )
    }
}
