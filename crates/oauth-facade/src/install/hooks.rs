//! What the callback answers: [`InstallHooks`], and the plain pages of [`DefaultHooks`].

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use oauth_core::{Error, ErrorKind, Grant};

/// What the callback shows. Implement it to render your own pages or redirect elsewhere.
#[async_trait]
pub trait InstallHooks: Send + Sync {
    /// After everything the authorization granted was saved (the installation and its token
    /// sets: for Slack, the bot's and the installing user's).
    async fn on_success(&self, grant: &Grant) -> Response;
    /// When the flow failed (denied consent, bad or replayed state, provider refusal…).
    async fn on_failure(&self, error: &Error) -> Response;
}

/// Plain HTML pages: "installed" (200) or the error and what to do. Never shows a secret: error
/// messages hold none.
///
/// | Error kind | Status |
/// | --- | --- |
/// | `AuthorizationDenied`, `InvalidCallback`, `InvalidRequest`, `ReauthorizationRequired` (the provider refused the code) | 400 |
/// | `Configuration`, `Storage`, `Internal` | 500 |
/// | the provider or the network failing (`Retryable`, `RateLimited`, `Transport`, `Timeout`, `UndecodableResponse`, …) | 502 |
#[derive(Debug, Default, Clone, Copy)]
pub struct DefaultHooks;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[async_trait]
impl InstallHooks for DefaultHooks {
    async fn on_success(&self, grant: &Grant) -> Response {
        let key = &grant.installation.key;
        let grantee = grant.primary().map(|granted| &granted.tokens.grantee);
        let workspace = grantee
            .and_then(|g| g.workspace_name.clone().or_else(|| g.workspace_id.clone()))
            .unwrap_or_else(|| key.key().to_owned());
        Html(format!(
            "<!doctype html><title>Installed</title><h1>Installed</h1><p>The app is installed for <b>{}</b> ({}). You can close this page.</p>",
            escape(&workspace),
            escape(key.provider().as_str())
        ))
        .into_response()
    }

    async fn on_failure(&self, error: &Error) -> Response {
        let status = match error.kind() {
            // The browser brought something unusable (a refusal, a forged, replayed or malformed
            // callback, a code the provider no longer accepts): the user must start again.
            ErrorKind::AuthorizationDenied
            | ErrorKind::InvalidCallback
            | ErrorKind::InvalidRequest
            | ErrorKind::ReauthorizationRequired => StatusCode::BAD_REQUEST,
            ErrorKind::Configuration | ErrorKind::Storage | ErrorKind::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        (
            status,
            Html(format!(
                "<!doctype html><title>Installation failed</title><h1>Installation failed</h1><p>{}</p><p><a href=\"javascript:history.back()\">Try again</a></p>",
                escape(&error.to_string())
            )),
        )
            .into_response()
    }
}
