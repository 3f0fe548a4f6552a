//! `oauth.v2.user.access`: the user-token-only install (`/oauth/v2_user/authorize`), its code
//! exchange and its refresh.
//!
//! Slack documents the method as "exchanges a temporary OAuth verifier code for a user access
//! token", with the arguments of `oauth.v2.access`; the shape of its answer is not documented
//! beyond that. This crate reads it as Slack's own example for the method and the sandbox show
//! it: the user token at the top level (`access_token`, `token_type: "user"`, `scope`, `user_id`,
//! `refresh_token` and `expires_in` with rotation), `team`, `enterprise`,
//! `is_enterprise_install`, `app_id`, and an `authed_user {id, scope}` without tokens (its `id`
//! stands in for a missing `user_id`).

use oauth_core::http::Idempotency;
use oauth_core::{AuthorizationRequest, Result, ScopeSeparator};
use std::time::SystemTime;
use url::Url;

use crate::client::SlackClient;
use crate::oauth::{
    OauthV2AccessRequest, OauthV2RefreshRequest, OauthV2TokenResponse, decode_flat,
};
use crate::wire::SlackResponse;

/// The answer of `oauth.v2.user.access`, for a code exchange and for a refresh: the user token
/// set (`tokens.grantee.user_id` is the user), the workspace or org, the app.
#[derive(Clone, Debug, PartialEq)]
pub struct OauthV2UserAccessResponse(pub OauthV2TokenResponse);

impl SlackResponse for OauthV2UserAccessResponse {
    const OPERATION: &'static str = "oauth.v2.user.access";

    fn decode(response: &oauth_core::http::HttpResponse, received_at: SystemTime) -> Result<Self> {
        decode_flat(Self::OPERATION, response, received_at).map(OauthV2UserAccessResponse)
    }
}

impl SlackClient {
    /// The user-token-only install URL: `<authorize base>/oauth/v2_user/authorize?client_id=…
    /// &scope=…` then `redirect_uri` (the request's, else the client's default), `state`, PKCE and
    /// `team` when set. Every scope of the request is a user scope (comma-separated). Exchange the
    /// code with [`oauth_v2_user_access`](Self::oauth_v2_user_access): Slack refuses a code of one
    /// flow at the other's method (`oauth_authorization_url_mismatch`).
    pub fn oauth_v2_user_authorize_url(&self, request: &AuthorizationRequest) -> Result<Url> {
        if request.requested_scopes().is_empty() {
            return Err(oauth_core::Error::InvalidRequest(
                "a Slack user-only install needs user scopes (the request's scopes)".into(),
            ));
        }
        let endpoint = self.browser_url("oauth/v2_user/authorize")?;
        self.prepared(request)?.to_url(
            &endpoint,
            &[("client_id", self.client_id())],
            "scope",
            ScopeSeparator::Comma,
            self.common().allow_insecure_http(),
        )
    }

    /// `oauth.v2.user.access`: exchanges a code from the user-only install flow for the user's
    /// token set. Never resent once it may have reached Slack.
    ///
    /// Wire: as [`oauth_v2_access`](Self::oauth_v2_access): form `client_id`, `client_secret`
    /// (or Basic; a public client sends no secret), `code`, `redirect_uri`, `code_verifier`.
    pub async fn oauth_v2_user_access(
        &self,
        request: &OauthV2AccessRequest,
    ) -> Result<OauthV2UserAccessResponse> {
        let (form, credential) = self.code_form(request)?;
        let mut response: OauthV2UserAccessResponse =
            self.call(Idempotency::SingleUse, form, credential).await?;
        self.stamp_refresh_expiry(&mut response.0.tokens);
        Ok(response)
    }

    /// `oauth.v2.user.access` with `grant_type=refresh_token`: rotates a user token. The old
    /// refresh token is spent. Never resent once it may have reached Slack.
    pub async fn oauth_v2_user_access_refresh(
        &self,
        request: &OauthV2RefreshRequest,
    ) -> Result<OauthV2UserAccessResponse> {
        let (form, credential) = self.refresh_form(&request.refresh_token);
        let mut response: OauthV2UserAccessResponse =
            self.call(Idempotency::SingleUse, form, credential).await?;
        self.stamp_refresh_expiry(&mut response.0.tokens);
        Ok(response)
    }
}
