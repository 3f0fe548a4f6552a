//! `apps.auth.external.get` and `apps.auth.external.delete`: the external (third-party) tokens a
//! Slack platform app holds.

use std::fmt;
use std::time::SystemTime;

use oauth_core::http::{HttpResponse, Idempotency};
use oauth_core::{AccessToken, Result};
use serde::Deserialize;

use crate::client::SlackClient;
use crate::wire::{Credential, Form, SlackResponse, decode_response};

/// The arguments of `apps.auth.external.get`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppsAuthExternalGetRequest {
    /// `external_token_id` (`Et…`).
    pub external_token_id: String,
    /// `force_refresh`: refresh the external token even if it has not expired (sent as `true`
    /// when set).
    pub force_refresh: bool,
}

impl AppsAuthExternalGetRequest {
    /// A lookup of `external_token_id`.
    pub fn new(external_token_id: impl Into<String>) -> Self {
        Self {
            external_token_id: external_token_id.into(),
            force_refresh: false,
        }
    }

    /// Sets `force_refresh`.
    pub fn force_refresh(mut self, force_refresh: bool) -> Self {
        self.force_refresh = force_refresh;
        self
    }
}

/// `token_response_extras`: what the external provider's token endpoint returned besides the
/// token. It may hold anything (even secrets), so `Debug` shows only the keys.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TokenResponseExtras(pub serde_json::Map<String, serde_json::Value>);

impl fmt::Debug for TokenResponseExtras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The answer of `apps.auth.external.get`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AppsAuthExternalGetResponse {
    /// `external_token`: the third party's access token.
    pub external_token: AccessToken,
    /// `token_response_extras` (optional; may be `null`).
    #[serde(default)]
    pub token_response_extras: Option<TokenResponseExtras>,
}

impl SlackResponse for AppsAuthExternalGetResponse {
    const OPERATION: &'static str = "apps.auth.external.get";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        decode_response(Self::OPERATION, response)
    }
}

/// The arguments of `apps.auth.external.delete`: each selector is optional; Slack needs at least
/// one (`invalid_args` otherwise — unconfirmed, so this crate does not check it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppsAuthExternalDeleteRequest {
    /// `app_id`: delete every token of this app.
    pub app_id: Option<String>,
    /// `provider_key`: delete every token of this provider.
    pub provider_key: Option<String>,
    /// `external_token_id`: delete this token.
    pub external_token_id: Option<String>,
}

impl AppsAuthExternalDeleteRequest {
    /// A request with no selector yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `app_id`.
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = Some(app_id.into());
        self
    }

    /// Sets `provider_key`.
    pub fn provider_key(mut self, provider_key: impl Into<String>) -> Self {
        self.provider_key = Some(provider_key.into());
        self
    }

    /// Sets `external_token_id`.
    pub fn external_token_id(mut self, external_token_id: impl Into<String>) -> Self {
        self.external_token_id = Some(external_token_id.into());
        self
    }
}

/// The answer of `apps.auth.external.delete` (`{"ok":true}`: no documented field).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AppsAuthExternalDeleteResponse {}

impl SlackResponse for AppsAuthExternalDeleteResponse {
    const OPERATION: &'static str = "apps.auth.external.delete";

    /// A resent delete answered `token_not_found` deleted the token on an earlier attempt whose
    /// answer was lost: that is a success, not an error.
    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        let resent = oauth_core::http::Attempts::of(response) > 1;
        match decode_response(Self::OPERATION, response) {
            Err(error)
                if resent
                    && error
                        .provider_error()
                        .is_some_and(|e| e.code() == "token_not_found") =>
            {
                tracing::debug!(
                    "apps.auth.external.delete resent after a lost answer: token already deleted"
                );
                Ok(Self::default())
            }
            other => other,
        }
    }
}

impl SlackClient {
    /// `apps.auth.external.get`: the current external token (refreshed by Slack if needed).
    ///
    /// Wire: `Authorization: Bearer <token>`, form `external_token_id`, `force_refresh=true`
    /// (when set).
    pub async fn apps_auth_external_get(
        &self,
        token: &AccessToken,
        request: &AppsAuthExternalGetRequest,
    ) -> Result<AppsAuthExternalGetResponse> {
        let mut form = Form::new();
        form.push("external_token_id", request.external_token_id.as_str());
        form.flag("force_refresh", request.force_refresh);
        self.call(Idempotency::Idempotent, form, Credential::Bearer(token))
            .await
    }

    /// `apps.auth.external.delete`: deletes external tokens on Slack's side.
    ///
    /// Wire: `Authorization: Bearer <token>`, form `app_id`, `provider_key`, `external_token_id`
    /// (each only when set).
    pub async fn apps_auth_external_delete(
        &self,
        token: &AccessToken,
        request: &AppsAuthExternalDeleteRequest,
    ) -> Result<AppsAuthExternalDeleteResponse> {
        let mut form = Form::new();
        form.push_opt("app_id", request.app_id.as_deref());
        form.push_opt("provider_key", request.provider_key.as_deref());
        form.push_opt("external_token_id", request.external_token_id.as_deref());
        self.call(Idempotency::Idempotent, form, Credential::Bearer(token))
            .await
    }
}
