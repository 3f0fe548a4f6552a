//! Notion OAuth for public integrations, on the [`oauth_core`] traits: the authorization URL, the
//! code exchange, refresh (with rotation), introspection and revocation.
//!
//! # The whole flow
//!
//! ```no_run
//! use std::sync::Arc;
//! use oauth_core::{AuthorizationRequest, CodeExchange, Introspect, MemoryStateStore, PendingAuthorization, Principal, Revoke, TokenGrant,
//!     StateStore, TokenProvider, verify_callback};
//! use oauth_notion::{NotionClient, NotionExtras};
//!
//! # async fn run(callback_query: &str) -> oauth_core::Result<()> {
//! let notion = Arc::new(
//!     NotionClient::builder("463558a3-725e-4f37-b6d3-0889894f68de", std::env::var("NOTION_CLIENT_SECRET").unwrap_or_default())
//!         .redirect_uri("https://example.com/auth/notion/callback")
//!         .build()?,
//! );
//! let states = MemoryStateStore::new();
//!
//! // 1. Send the browser to Notion, remembering the CSRF state.
//! let request = AuthorizationRequest::new()?;
//! let pending = PendingAuthorization::from_request(&request, notion.provider_id(), std::time::SystemTime::now());
//! states.save(request.state(), pending).await?;
//! let url = notion.authorization_url(&request)?; // redirect the user here
//!
//! // 2. On the callback, check the state (single use) and exchange the code.
//! let verified = verify_callback(callback_query, &states).await?;
//! let grant = notion.exchange_code(CodeExchange::from_callback(verified)).await?;
//! // Notion grants one token set, the bot's, keyed by the bot id (save the whole grant).
//! let tokens = grant.tokens_of(&Principal::Bot).expect("Notion grants a bot token set");
//! println!("{}: workspace {:?}, owner {:?}", grant.installation.key, tokens.grantee.workspace_name, NotionExtras::from_token_set(tokens).owner);
//!
//! // 3. Later: check, rotate, and finally give up the tokens.
//! assert!(notion.introspect(&tokens.access_token).await?.active);
//! let refresh = tokens.refresh_token.clone().expect("Notion issues refresh tokens");
//! let rotated = notion.refresh(&refresh).await?; // store `rotated` before using it
//! notion.revoke(&rotated.access_token).await?;
//! # Ok(()) }
//! ```
//!
//! # Map of Notion endpoints
//!
//! | Notion | Rust |
//! | --- | --- |
//! | `GET /v1/oauth/authorize` (browser) | [`NotionClient::authorization_url`], [`TokenProvider::authorization_url`](oauth_core::TokenProvider::authorization_url) |
//! | `POST /v1/oauth/token`, `grant_type=authorization_code` | [`NotionClient::create_token`] ([`CreateTokenRequest`]), [`TokenGrant::exchange_code`](oauth_core::TokenGrant::exchange_code) |
//! | `POST /v1/oauth/token`, `grant_type=refresh_token` | [`NotionClient::refresh_token`] ([`RefreshTokenRequest`]), [`TokenGrant::refresh`](oauth_core::TokenGrant::refresh) |
//! | `POST /v1/oauth/introspect` | [`NotionClient::introspect_token`], [`Introspect::introspect`](oauth_core::Introspect::introspect) |
//! | `POST /v1/oauth/revoke` | [`NotionClient::revoke_token`], [`Revoke::revoke`](oauth_core::Revoke::revoke) |
//!
//! Every answer type implements [`NotionResponse`], whose `decode` runs on a raw HTTP response.
//!
//! # On the wire
//!
//! As `@notionhq/client` 5: `POST`, `Content-Type: application/json`, `Authorization: Basic
//! base64(client_id:client_secret)`, `Notion-Version` (default [`DEFAULT_NOTION_VERSION`]), a body
//! with only the grant's fields (`grant_type`, `code`, `redirect_uri`, `external_account`,
//! `refresh_token`; `token` for introspect and revoke). Client credentials are never in a body.
//! Unlike the SDK, no `Accept`-less surprises: every non-2xx answer is decoded into a
//! [`NotionError`] whichever of Notion's two error shapes it has, and anything else (an HTML page,
//! an empty body) into an undecodable-response error carrying the status.
//!
//! # Choices where Notion's behaviour is not documented
//!
//! | Question | This crate |
//! | --- | --- |
//! | Error body for a bad code or refresh token | both shapes are read: `{"object":"error","code":…}` and `{"error":…,"error_description":…}` |
//! | Refresh answer without `refresh_token` | the old refresh token is kept (never overwritten with nothing) |
//! | Access-token lifetime (no `expires_in`) | `expires_at` is `None`: the token is valid until refused |
//! | Introspection of an unknown or revoked token | `{"active":false}` and a 400 `invalid_grant` / 401 `unauthorized` refusal both map to `active: false` |
//! | `iat` unit | Unix seconds |
//! | Retries | 429 and 529 are retried after `Retry-After` for every call (Notion did not process them); 5xx only for introspect and revoke, never for a token grant (the code or refresh token may be spent) |
//! | Scopes and PKCE | Notion has neither: a request with scopes or a PKCE verifier is refused with an explanation |
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authorize;
mod client;
mod error;
mod oauth;
mod provider;
mod types;
mod wire;

pub use client::{DEFAULT_BASE_URL, DEFAULT_NOTION_VERSION, NotionClient, NotionClientBuilder};
pub use error::{ErrorShape, NotionError, NotionErrorCode};
pub use oauth::{CreateTokenRequest, RefreshTokenRequest};
pub use provider::EXTERNAL_ACCOUNT;
pub use types::{
    ExternalAccount, IntrospectResponse, NotionExtras, NotionUser, Owner, Person, RevokeResponse,
    TokenResponse,
};
pub use wire::{NotionResponse, classify};

/// The provider id of this crate: `"notion"`.
pub const PROVIDER: oauth_core::ProviderId = oauth_core::ProviderId::from_static("notion");
