//! Slack OAuth v2, Sign in with Slack (OpenID Connect) and the token-auth Web API methods, on the
//! `oauth-core` traits: every Slack method that issues, rotates, checks or gives up a token, with
//! Slack's quirks (errors in HTTP 200 `{"ok":false}`, single-use rotating refresh tokens, the
//! refresh answer that is a bot *or* a user token, rate limits in HTTP 200) handled here.
//!
//! # A complete install flow
//!
//! ```no_run
//! use oauth_core::{
//!     AuthorizationRequest, CodeExchange, MemoryStateStore, PendingAuthorization, Scopes,
//!     StateStore, TokenGrant as _, Introspect as _, Revoke as _, verify_callback,
//! };
//! use oauth_slack::{OauthV2AccessRequest, SlackAuthorizationRequest as _, SlackClient};
//!
//! # async fn run() -> oauth_core::Result<()> {
//! let slack = SlackClient::builder("2141029472.691202649728")
//!     .client_secret(std::env::var("SLACK_CLIENT_SECRET").unwrap_or_default())
//!     .redirect_uri("https://example.com/slack/oauth/callback")
//!     .build()?;
//! let states = MemoryStateStore::default();
//!
//! // 1. The install route: a URL with bot and user scopes and a CSRF state (a public client,
//! //    built without a secret, adds `.with_pkce()?`).
//! let request = AuthorizationRequest::new()?
//!     .scopes(Scopes::parse("chat:write,commands"))
//!     .user_scopes(&Scopes::parse("search:read"));
//! let url = slack.oauth_v2_authorize_url(&request)?;
//! let pending = PendingAuthorization::from_request(&request, oauth_slack::PROVIDER, std::time::SystemTime::now());
//! states.save(request.state(), pending).await?;
//! println!("redirect the browser to {url}");
//!
//! // 2. The callback route (`?code=…&state=…`): verify the state, exchange the code.
//! let query = "code=4724469134.4644010092847.232b4e&state=…";
//! let verified = verify_callback(query, &states).await?;
//! let exchange = CodeExchange::from_callback(verified);
//! // Either the primary token set (bot token, else user token) through the trait…
//! // let tokens = slack.exchange_code(exchange).await?;
//! // …or the whole installation:
//! let install = slack.oauth_v2_access(&OauthV2AccessRequest::from(exchange)).await?;
//! let bot = install.bot.as_ref().map(|b| b.tokens.clone());
//! let user = install.user_tokens().cloned();
//! println!("installed in {:?} by {:?}", install.team, install.authed_user.as_ref().map(|u| &u.id));
//!
//! // 3. Later: check the bot token, rotate it before it expires, revoke it at uninstall.
//! if let Some(bot) = bot {
//!     let info = slack.introspect(&bot.access_token).await?;
//!     assert!(info.active);
//!     if let Some(refresh) = &bot.refresh_token {
//!         let rotated = slack.refresh(refresh).await?; // store rotated.refresh_token at once
//!         slack.revoke(&rotated.access_token).await?;
//!     }
//! }
//! # let _ = user;
//! # Ok(()) }
//! ```
//!
//! # Requests from Slack
//!
//! What Slack sends to the app (Events API, interactivity, slash commands) is signed with the
//! app's [`SigningSecret`]: [`verify_request`] checks the raw body and the headers before
//! anything is parsed (`v0=` HMAC-SHA256, constant-time comparison, a 5-minute window each way).
//! [`EventRequest::decode`] then reads an Events API body: `url_verification`, `event_callback`
//! ([`EventCallback`], its `event` typed for [`Event::TokensRevoked`] and
//! [`Event::AppUninstalled`], raw JSON otherwise) and `app_rate_limited`;
//! [`EventCallback::context`] is the [`SlackContext`] its tokens are looked up by. The axum
//! endpoint that does all of it, with retries deduplicated and revocations applied, is in
//! `oauth-facade` (`oauth_facade::slack::events`).
//!
//! # Slack methods and their functions
//!
//! | Slack | Rust |
//! | --- | --- |
//! | `GET /oauth/v2/authorize` (browser) | [`SlackClient::oauth_v2_authorize_url`], [`TokenProvider::authorization_url`](oauth_core::TokenProvider::authorization_url) |
//! | `GET /openid/connect/authorize` (browser) | [`SlackClient::openid_connect_authorize_url`] |
//! | `oauth.v2.access` (code, PKCE) | [`SlackClient::oauth_v2_access`], [`TokenGrant::exchange_code`](oauth_core::TokenGrant::exchange_code) |
//! | `oauth.v2.access` (`grant_type=refresh_token`) | [`SlackClient::oauth_v2_access_refresh`], [`TokenGrant::refresh`](oauth_core::TokenGrant::refresh) |
//! | `GET /oauth/v2_user/authorize` (browser, user-only install) | [`SlackClient::oauth_v2_user_authorize_url`]; [`TokenProvider::authorization_url`](oauth_core::TokenProvider::authorization_url) of a client built with [`user_only_install`](SlackClientBuilder::user_only_install) |
//! | `oauth.v2.user.access` (code, PKCE; `grant_type=refresh_token`) | [`SlackClient::oauth_v2_user_access`], [`SlackClient::oauth_v2_user_access_refresh`]; the [`TokenGrant`](oauth_core::TokenGrant) methods of a user-only client |
//! | `oauth.v2.exchange` | [`SlackClient::oauth_v2_exchange`] |
//! | `oauth.access` (legacy v1, deprecated) | [`SlackClient::oauth_access`] |
//! | `openid.connect.token` | [`SlackClient::openid_connect_token`] |
//! | `openid.connect.userInfo` | [`SlackClient::openid_connect_user_info`] |
//! | `GET /openid/connect/keys` | [`SlackClient::openid_connect_keys`]; verification: [`verify_id_token`] (feature `openid`) |
//! | `auth.test` | [`SlackClient::auth_test`], [`Introspect::introspect`](oauth_core::Introspect::introspect) |
//! | `auth.revoke` | [`SlackClient::auth_revoke`], [`Revoke::revoke`](oauth_core::Revoke::revoke) |
//! | `auth.teams.list` | [`SlackClient::auth_teams_list`] (one page), [`SlackClient::auth_teams_list_stream`] (every team) |
//! | `apps.auth.external.get` | [`SlackClient::apps_auth_external_get`] |
//! | `apps.auth.external.delete` | [`SlackClient::apps_auth_external_delete`] |
//!
//! Every answer type implements [`SlackResponse`], whose `decode` runs on a raw HTTP response.
//!
//! The `oauth-core` traits on [`SlackClient`]:
//! - [`TokenGrant::exchange_code`](oauth_core::TokenGrant::exchange_code) returns the bot token
//!   set when the install has one, else the user's; the whole installation (app, team,
//!   enterprise, bot and user tokens, incoming webhook) comes from [`SlackClient::oauth_v2_access`].
//! - [`TokenGrant::refresh`](oauth_core::TokenGrant::refresh) returns the **new** pair (the bot
//!   or the user token, as the refresh answer says).
//! - [`Introspect::introspect`](oauth_core::Introspect::introspect) is `auth.test`: `invalid_auth`,
//!   `not_authed`, `token_revoked`, `token_expired` and `account_inactive` make an inactive
//!   [`TokenInfo`](oauth_core::TokenInfo) (the code is the reason); scopes come from the
//!   `x-oauth-scopes` header.
//! - [`Revoke::revoke`](oauth_core::Revoke::revoke) is `auth.revoke`; a token that is already
//!   unusable counts as revoked (RFC 7009), except an empty one (`not_authed`).
//! - Token sets carry `grantee` (team, enterprise, user, bot user) and Slack extras without any
//!   secret ([`SlackTokenExtras`]: `app_id`, `is_enterprise_install`, the webhook's channel but
//!   never its URL).
//!
//! # On the wire
//!
//! - Every method is `POST <api base><method>` with `Content-Type:
//!   application/x-www-form-urlencoded` and `Accept: application/json`, as `@slack/web-api` 8
//!   sends it. Tokens go in `Authorization: Bearer <token>`, never in the query string or the form
//!   (except `oauth.v2.exchange`, below).
//! - Client credentials ([`ClientAuth`]): `client_id` and `client_secret` in the form by default
//!   (as `@slack/web-api`), or HTTP Basic. A public (PKCE) client sends only `client_id`, also
//!   when refreshing.
//! - Code exchanges, refreshes, `oauth.v2.exchange` and `openid.connect.token` are single-use:
//!   never resent once they may have reached Slack. Rate-limited answers (HTTP 429, or HTTP 200
//!   `ratelimited`) are retried after `Retry-After` under the client's
//!   [`RetryPolicy`](oauth_core::http::RetryPolicy); 500/502/503/504 only for the other methods.
//! - `warning`, `response_metadata.warnings` and `response_metadata.messages` are logged with
//!   `tracing::warn!` (masked for anything token-like) and kept in [`SlackError`].
//!
//! # Unconfirmed behaviour, and what this crate does
//!
//! | Item (wire reference §6) | Choice |
//! | --- | --- |
//! | Booleans (`test`, `force_refresh`, `include_icon`, `single_channel`) | Sent as `true` (the `@slack/web-api` spelling; `slack_sdk` sends `1`). A `false` flag is omitted (Slack's default), except `single_channel`, sent as `true`/`false` when set. |
//! | `oauth.v2.exchange` credential placement | As `@slack/web-api` 8: form `client_id`, `client_secret`, `token`, and the token also in `Authorization: Bearer`. Always form credentials, even with [`ClientAuth::Basic`]. |
//! | Client credentials on the other token methods | Form body by default (`@slack/web-api`); Basic on request (`slack_sdk`, Java). |
//! | Refresh answer for a user token | Read from the top level (`token_type: "user"`, `user_id`); `authed_user`, if present, is ignored. |
//! | Refresh-token lifetime | Slack documents 30 days for PKCE apps only: a public client's token sets carry `refresh_token_expires_at` = issue + 30 days ([`PKCE_REFRESH_TOKEN_LIFETIME`]); confidential clients' refresh tokens have no expiry. |
//! | Refresh answer without `refresh_token` | [`TokenGrant::refresh`](oauth_core::TokenGrant::refresh) keeps the one passed in. |
//! | `ok` missing on a success body (legacy `oauth.access`) | Accepted as success. |
//! | `ok:false` with no `error` | A [`SlackError`] with an empty code ([`SlackErrorCode::Other`]`("")`). |
//! | Reused code (`invalid_code` vs `code_already_used`), spent refresh token (`invalid_refresh_token`), revoked token (`token_revoked` vs `invalid_auth`) | All classified as re-authorization required. |
//! | `openid.connect.token` RFC-style codes (`invalid_grant`, `invalid_client`) | Expected in the HTTP 200 `ok:false` envelope; also read from any other status with an `error` field. |
//! | `auth.revoke` in test mode | `revoked` is optional in [`AuthRevokeResponse`]. |
//! | `auth.teams.list` last page | An empty or missing `next_cursor` ends the stream; a repeated cursor also ends it. |
//! | `apps.auth.external.delete` with no selector | Sent as is; Slack decides. |
//! | `token_response_extras` | Optional. |
//! | Sign in with Slack `nonce` | Checked by [`verify_id_token`] when [`IdTokenExpectations::nonce`] is set; `at_hash` likewise when [`IdTokenExpectations::access_token`] is set. |
//!
//! # Error classification
//!
//! Every `{"ok":false}` answer is an [`oauth_core::Error::Provider`] holding a [`SlackError`]; the
//! table of [`SlackErrorCode::kind`] maps codes to [`oauth_core::ErrorKind`]s
//! (`invalid_refresh_token`, `token_revoked`, `invalid_grant`, … → re-authorization required;
//! `invalid_client_id`, `bad_client_secret`, `bad_redirect_uri`, … → configuration;
//! `ratelimited` → rate-limited; `internal_error`, `fatal_error`, … → retryable). A body that is
//! not Slack's JSON (an HTML outage page, a truncated body) is
//! [`oauth_core::Error::UndecodableResponse`].
//!
//! # Features
//!
//! | Feature   | Default | What it brings |
//! |-----------|---------|----------------|
//! | `reqwest` | yes     | The default transport of `oauth-core` (reqwest with rustls). Without it, give the builder an [`HttpClient`](oauth_core::http::HttpClient) over your own transport: [`SlackClientBuilder::http_client`]. |
//! | `openid`  | yes     | Verification of Sign in with Slack `id_token`s: [`verify_id_token`] and [`IdTokenExpectations`] (RS256 signatures, through `jsonwebtoken`). Without it, the OpenID Connect *calls* remain ([`SlackClient::openid_connect_token`], [`SlackClient::openid_connect_user_info`], [`SlackClient::openid_connect_keys`], the authorize URL) and so do [`IdToken`], its [`unverified_claims`](IdToken::unverified_claims) and [`JwkSet`]; an app that does not use Sign in with Slack, or verifies `id_token`s itself, saves compiling `jsonwebtoken` and its RSA stack. |
#![cfg_attr(docsrs, feature(doc_cfg))]
// Without `openid`, the docs above still name `verify_id_token` and `IdTokenExpectations`.
#![cfg_attr(not(feature = "openid"), allow(rustdoc::broken_intra_doc_links))]

mod apps;
mod auth;
mod authorize;
mod client;
mod error;
mod events;
mod installation;
mod lookup;
mod oauth;
mod oauth_access;
mod oauth_user;
mod openid;
mod provider;
mod signature;
mod types;
#[cfg(feature = "openid")]
mod verify;
mod wire;

use oauth_core::ProviderId;

/// The provider id of Slack, `"slack"`.
pub const PROVIDER: ProviderId = ProviderId::from_static("slack");

pub use apps::{
    AppsAuthExternalDeleteRequest, AppsAuthExternalDeleteResponse, AppsAuthExternalGetRequest,
    AppsAuthExternalGetResponse, TokenResponseExtras,
};
pub use auth::{
    AuthRevokeRequest, AuthRevokeResponse, AuthTeam, AuthTeamsListRequest, AuthTeamsListResponse,
    AuthTestResponse, TeamIcon,
};
pub use authorize::{SlackAuthorizationRequest, generate_nonce};
pub use client::{
    ClientAuth, DEFAULT_AUTHORIZE_BASE_URL, DEFAULT_BASE_URL, SlackClient, SlackClientBuilder,
};
pub use error::{SlackError, SlackErrorCode};
pub use events::{
    AppRateLimited, Event, EventAuthorization, EventCallback, EventRequest, EventsError,
    OtherEvent, TokensRevoked, UrlVerification,
};
pub use installation::{INCOMING_WEBHOOK_URL, SlackInstallation, installation_key};
pub use lookup::SlackContext;
pub use oauth::{
    AuthedUser, BotInstallation, OauthV2AccessRequest, OauthV2AccessResponse,
    OauthV2ExchangeRequest, OauthV2ExchangeResponse, OauthV2RefreshRequest, OauthV2RefreshResponse,
    OauthV2TokenResponse, PKCE_REFRESH_TOKEN_LIFETIME,
};
pub use oauth_access::{OauthAccessBot, OauthAccessRequest, OauthAccessResponse, OauthAccessUser};
pub use oauth_user::OauthV2UserAccessResponse;
pub use openid::{
    IdToken, IdTokenClaims, IdTokenError, Jwk, JwkSet, OpenIdConnectGrant,
    OpenIdConnectTokenRequest, OpenIdConnectTokenResponse, OpenIdConnectUserInfoResponse,
    SLACK_ISSUER,
};
pub use signature::{
    MAX_TIMESTAMP_SKEW, SIGNATURE_HEADER, SignatureError, SigningSecret, TIMESTAMP_HEADER,
    sign_request, verify_request, verify_signature,
};
pub use types::{Enterprise, IncomingWebhook, SlackTokenExtras, Team, WebhookChannel, WebhookUrl};
#[cfg(feature = "openid")]
#[cfg_attr(docsrs, doc(cfg(feature = "openid")))]
pub use verify::{IdTokenExpectations, verify_id_token};
pub use wire::{SlackResponse, classify};
