//! `auth.test`, `auth.revoke` and `auth.teams.list` (single pages and a stream).

use std::collections::VecDeque;
use std::time::SystemTime;

use futures_util::Stream;
use oauth_core::http::{HttpResponse, Idempotency, header_str};
use oauth_core::{AccessToken, Result, Scopes, expiry_from};
use serde::Deserialize;

use crate::client::SlackClient;
use crate::wire::{Credential, Form, SlackResponse, decode_response};

/// The answer of `auth.test`: who a token belongs to, and (from the `x-oauth-scopes` header) its
/// scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthTestResponse {
    /// `url`: the workspace URL, with a trailing `/`.
    pub url: Option<String>,
    /// `team`: the workspace name.
    pub team: Option<String>,
    /// `user`: the user's handle (may be `null`).
    pub user: Option<String>,
    /// `team_id`.
    pub team_id: Option<String>,
    /// `user_id` (the bot user for bot tokens).
    pub user_id: Option<String>,
    /// `bot_id` (`B…`; bot tokens only).
    pub bot_id: Option<String>,
    /// `enterprise_id`.
    pub enterprise_id: Option<String>,
    /// `is_enterprise_install`.
    pub is_enterprise_install: bool,
    /// `app_id`.
    pub app_id: Option<String>,
    /// `app_name`.
    pub app_name: Option<String>,
    /// `expires_in`: seconds left for a rotating token.
    pub expires_in: Option<i64>,
    /// When the token expires, from `expires_in` and the time of the answer.
    pub expires_at: Option<SystemTime>,
    /// The token's scopes, from the `x-oauth-scopes` response header.
    pub scopes: Option<Scopes>,
    /// The scopes the method accepts, from `x-accepted-oauth-scopes`.
    pub accepted_scopes: Option<Scopes>,
}

#[derive(Deserialize)]
struct RawAuthTest {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    enterprise_id: Option<String>,
    #[serde(default)]
    is_enterprise_install: Option<bool>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_name: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    ok: Option<bool>,
}

impl SlackResponse for AuthTestResponse {
    const OPERATION: &'static str = "auth.test";

    fn decode(response: &HttpResponse, received_at: SystemTime) -> Result<Self> {
        let raw: RawAuthTest = decode_response(Self::OPERATION, response)?;
        // `auth.test` always says `ok: true` when the token is good (unlike some OAuth methods'
        // documented answers): `200 {}`, say from a proxy, must not read as an active token.
        if raw.ok != Some(true) {
            return Err(oauth_core::http::undecodable(
                &crate::PROVIDER,
                Self::OPERATION,
                response,
                "auth.test answered without `ok: true`",
            ));
        }
        let header_scopes = |name| header_str(response, name).map(Scopes::parse);
        Ok(AuthTestResponse {
            url: raw.url,
            team: raw.team,
            user: raw.user,
            team_id: raw.team_id,
            user_id: raw.user_id,
            bot_id: raw.bot_id,
            enterprise_id: raw.enterprise_id,
            is_enterprise_install: raw.is_enterprise_install.unwrap_or(false),
            app_id: raw.app_id,
            app_name: raw.app_name,
            expires_in: raw.expires_in,
            expires_at: raw.expires_in.and_then(|s| expiry_from(received_at, s)),
            scopes: header_scopes("x-oauth-scopes"),
            accepted_scopes: header_scopes("x-accepted-oauth-scopes"),
        })
    }
}

/// The arguments of `auth.revoke`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRevokeRequest {
    /// `test`: check the call without revoking (sent as `test=true` when set).
    pub test: bool,
}

impl AuthRevokeRequest {
    /// A real revocation.
    pub fn new() -> Self {
        Self::default()
    }

    /// A test-mode call: nothing is revoked.
    pub fn test() -> Self {
        Self { test: true }
    }
}

/// The answer of `auth.revoke`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AuthRevokeResponse {
    /// `revoked`: `true` once revoked; `false` in test mode (not documented by Slack); absent in
    /// some SDK samples.
    #[serde(default)]
    pub revoked: Option<bool>,
}

impl SlackResponse for AuthRevokeResponse {
    const OPERATION: &'static str = "auth.revoke";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        decode_response(Self::OPERATION, response)
    }
}

/// The arguments of `auth.teams.list`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthTeamsListRequest {
    /// `cursor`: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// `limit`: 1–1000 (Slack's default 100).
    pub limit: Option<u32>,
    /// `include_icon`: adds each team's `icon` (sent as `true` when set).
    pub include_icon: bool,
}

impl AuthTeamsListRequest {
    /// The first page with Slack's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `cursor`.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    /// Sets `limit`.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets `include_icon`.
    pub fn include_icon(mut self, include_icon: bool) -> Self {
        self.include_icon = include_icon;
        self
    }
}

/// A team's icon in `auth.teams.list` (with `include_icon`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TeamIcon {
    /// `image_34`.
    #[serde(default)]
    pub image_34: Option<String>,
    /// `image_44`.
    #[serde(default)]
    pub image_44: Option<String>,
    /// `image_68`.
    #[serde(default)]
    pub image_68: Option<String>,
    /// `image_88`.
    #[serde(default)]
    pub image_88: Option<String>,
    /// `image_102`.
    #[serde(default)]
    pub image_102: Option<String>,
    /// `image_132`.
    #[serde(default)]
    pub image_132: Option<String>,
    /// `image_230`.
    #[serde(default)]
    pub image_230: Option<String>,
    /// `image_default`.
    #[serde(default)]
    pub image_default: Option<bool>,
}

/// A workspace an org-wide app is installed in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AuthTeam {
    /// `id`.
    pub id: String,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `icon` (with `include_icon`).
    #[serde(default)]
    pub icon: Option<TeamIcon>,
}

/// One page of `auth.teams.list`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthTeamsListResponse {
    /// `teams`.
    pub teams: Vec<AuthTeam>,
    /// `response_metadata.next_cursor`; `None` on the last page (Slack sends `""`).
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct RawTeamsList {
    #[serde(default)]
    teams: Vec<AuthTeam>,
    #[serde(default)]
    response_metadata: Option<RawCursor>,
}

#[derive(Deserialize)]
struct RawCursor {
    #[serde(default)]
    next_cursor: Option<String>,
}

impl SlackResponse for AuthTeamsListResponse {
    const OPERATION: &'static str = "auth.teams.list";

    fn decode(response: &HttpResponse, _received_at: SystemTime) -> Result<Self> {
        let raw: RawTeamsList = decode_response(Self::OPERATION, response)?;
        Ok(AuthTeamsListResponse {
            teams: raw.teams,
            next_cursor: raw
                .response_metadata
                .and_then(|m| m.next_cursor)
                .filter(|c| !c.is_empty()),
        })
    }
}

impl SlackClient {
    /// `auth.test`: checks a token and tells who it belongs to. Safe to retry.
    ///
    /// Wire: `Authorization: Bearer <token>`, empty form.
    pub async fn auth_test(&self, token: &AccessToken) -> Result<AuthTestResponse> {
        self.call(
            Idempotency::Idempotent,
            Form::new(),
            Credential::Bearer(token),
        )
        .await
    }

    /// `auth.revoke`: revokes the token that makes the call (with rotation, only that token).
    ///
    /// Wire: `Authorization: Bearer <token>`, form `test=true` in test mode, else empty.
    pub async fn auth_revoke(
        &self,
        token: &AccessToken,
        request: &AuthRevokeRequest,
    ) -> Result<AuthRevokeResponse> {
        let mut form = Form::new();
        form.flag("test", request.test);
        self.call(Idempotency::Idempotent, form, Credential::Bearer(token))
            .await
    }

    /// `auth.teams.list`: one page of the workspaces an org-wide app is installed in.
    ///
    /// Wire: `Authorization: Bearer <token>`, form `cursor`, `limit`, `include_icon=true` (each
    /// only when set).
    pub async fn auth_teams_list(
        &self,
        token: &AccessToken,
        request: &AuthTeamsListRequest,
    ) -> Result<AuthTeamsListResponse> {
        let mut form = Form::new();
        form.push_opt("cursor", request.cursor.as_deref());
        if let Some(limit) = request.limit {
            form.push("limit", limit.to_string());
        }
        form.flag("include_icon", request.include_icon);
        self.call(Idempotency::Idempotent, form, Credential::Bearer(token))
            .await
    }

    /// `auth.teams.list`, every page: a stream of teams that follows `next_cursor` until Slack
    /// sends an empty one (from `request.cursor` on). Stops after the first error; stops too if
    /// Slack repeats a cursor, which would otherwise loop forever.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// # async fn teams(client: oauth_slack::SlackClient, token: oauth_core::AccessToken) -> oauth_core::Result<()> {
    /// let teams: Vec<_> = client
    ///     .auth_teams_list_stream(token, oauth_slack::AuthTeamsListRequest::new().limit(200))
    ///     .try_collect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn auth_teams_list_stream(
        &self,
        token: AccessToken,
        request: AuthTeamsListRequest,
    ) -> impl Stream<Item = Result<AuthTeam>> + Send + 'static {
        struct State {
            client: SlackClient,
            token: AccessToken,
            request: AuthTeamsListRequest,
            buffer: VecDeque<AuthTeam>,
            seen: Vec<String>,
            done: bool,
        }
        let state = State {
            client: self.clone(),
            token,
            request,
            buffer: VecDeque::new(),
            seen: Vec::new(),
            done: false,
        };
        futures_util::stream::try_unfold(state, |mut state| async move {
            loop {
                if let Some(team) = state.buffer.pop_front() {
                    return Ok(Some((team, state)));
                }
                if state.done {
                    return Ok(None);
                }
                let page = state
                    .client
                    .auth_teams_list(&state.token, &state.request)
                    .await?;
                state.buffer.extend(page.teams);
                match page.next_cursor {
                    Some(cursor) if !state.seen.contains(&cursor) => {
                        state.seen.push(cursor.clone());
                        state.request.cursor = Some(cursor);
                    }
                    Some(_) => {
                        tracing::warn!("auth.teams.list repeated a cursor; stopping");
                        state.done = true;
                    }
                    None => state.done = true,
                }
            }
        })
    }
}
