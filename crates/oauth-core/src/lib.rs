//! Provider-neutral OAuth token lifecycle: the traits, token types, secrets, authorization helpers,
//! errors and HTTP plumbing that `oauth-notion` and `oauth-slack` implement and share.
//!
//! `oauth-core` knows no provider. Application code is written against [`TokenProvider`] (or the
//! single traits [`TokenGrant`], [`Introspect`], [`Revoke`]) and holds an `Arc<dyn TokenProvider>`,
//! so that it is generic over providers and tests can swap a provider for a mock.
//!
//! | Feature   | Default | What it brings |
//! |-----------|---------|----------------|
//! | `reqwest` | yes     | [`http::ReqwestTransport`], the default transport: reqwest's `rustls` feature (the application's installed crypto provider, else aws-lc-rs, a C build). |
//! | `mock`    | no      | `mock::MockTokenProvider` and the other mockall mocks, and `mock::FaultyStore` (implies `faults`). |
//! | `conformance` | no  | `store::conformance::check_store`, the behaviour every `TokenStore` must have. |
//! | `faults`  | no      | `store::faults::FaultyStore`: a `TokenStore` wrapper that fails, delays or blocks chosen calls, for tests. |
//!
//! # Map
//! - Secrets: [`AccessToken`], [`RefreshToken`], [`ClientSecret`], [`AuthorizationCode`],
//!   [`PkceVerifier`]: redacted `Debug`, no `Display`, read with `expose_secret()`, stored only
//!   through [`ExposeSecrets`].
//! - Tokens: [`TokenSet`] (absolute `expires_at`), [`TokenInfo`], [`Scopes`], [`Grantee`].
//! - Traits: [`TokenGrant`], [`Introspect`], [`Revoke`], [`TokenProvider`].
//! - Authorization: [`AuthorizationRequest`], [`CsrfState`], [`PkceChallenge`], [`StateStore`] and
//!   [`MemoryStateStore`], [`CallbackParams`] and [`verify_callback`], [`check_redirect_uri`].
//! - Storage: [`TokenStore`] (versioned compare-and-swap writes, a refresh lease),
//!   [`MemoryTokenStore`], [`InstallationKey`].
//! - Errors: [`Error`], classified by [`ErrorKind`]; provider errors behind [`ProviderError`].
//! - HTTP: the [`http::HttpTransport`] seam, [`http::RetryPolicy`], [`http::HttpClient`].
//!
//! # The authorization flow
//!
//! ```
//! use std::sync::Arc;
//! use oauth_core::{AuthorizationRequest, CodeExchange, MemoryStateStore, PendingAuthorization,
//!     Scopes, StateStore, TokenProvider, verify_callback};
//!
//! // 1. The install route: build the URL, remember the state (and PKCE verifier), redirect.
//! async fn install(provider: &dyn TokenProvider, states: &dyn StateStore) -> oauth_core::Result<String> {
//!     let request = AuthorizationRequest::new()?
//!         .scopes(Scopes::parse("chat:write"))
//!         .redirect_uri("https://example.com/oauth/callback")
//!         .with_pkce()?;
//!     let pending = PendingAuthorization::from_request(&request, provider.provider_id(), std::time::SystemTime::now());
//!     states.save(request.state(), pending).await?;
//!     Ok(provider.authorization_url(&request)?.to_string())
//! }
//!
//! // 2. The callback route: verify the state (single use), exchange the code.
//! async fn callback(provider: &dyn TokenProvider, states: &dyn StateStore, query: &str) -> oauth_core::Result<()> {
//!     let verified = verify_callback(query, states).await?;
//!     let grant = provider.exchange_code(CodeExchange::from_callback(verified)).await?;
//!     for granted in &grant.tokens {
//!         println!("{} of {}: expires at {:?}", granted.principal, grant.installation.key, granted.tokens.expires_at);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Swapping a provider for a mock (feature `mock`)
//!
//! ```
//! # #[cfg(feature = "mock")] {
//! use std::sync::Arc;
//! use std::time::SystemTime;
//! use oauth_core::{AccessToken, ErrorKind, GenericProviderError, ProviderId, RefreshToken,
//!     TokenProvider, TokenSet, TokenType, Error};
//! use oauth_core::mock::MockTokenProvider;
//!
//! // Application code, generic over the provider.
//! async fn rotate(provider: Arc<dyn TokenProvider>, refresh: &RefreshToken) -> oauth_core::Result<TokenSet> {
//!     provider.refresh(refresh).await
//! }
//!
//! let mut mock = MockTokenProvider::new();
//! mock.expect_refresh().times(1).returning(|_| {
//!     Err(Error::provider(GenericProviderError::new(
//!         ProviderId::from_static("slack"), "invalid_refresh_token", ErrorKind::ReauthorizationRequired)))
//! });
//! let provider: Arc<dyn TokenProvider> = Arc::new(mock);
//! let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let error = runtime.block_on(rotate(provider, &RefreshToken::new("xoxe-1-abc"))).unwrap_err();
//! assert!(error.needs_reauthorization());
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod advice;
mod authorize;
mod callback;
mod client_settings;
mod clock;
mod error;
mod error_codes;
pub mod http;
mod installation;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;
mod provider;
pub mod redact;
mod scope;
mod secret;
mod state;
pub mod store;
mod token;
mod token_builder;
mod used_states;

pub use authorize::{
    AuthorizationRequest, CsrfState, PkceChallenge, ScopeSeparator, check_redirect_uri,
    exchange_redirect_uri,
};
pub use callback::{
    CallbackParams, CallbackResponse, MAX_CALLBACK_QUERY, VerifiedCallback, verify_callback,
};
pub use client_settings::{ClientCommon, ClientSettings};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{
    CallbackError, Error, ErrorKind, GenericProviderError, MAX_QUOTED_DESCRIPTION,
    MAX_QUOTED_ERROR_CODE, ProviderError, RequestSent, Result, TransportError, TransportErrorKind,
    UndecodableResponse, advice,
};
pub use installation::{
    Grant, GrantedTokens, Installation, InstallationKey, InstallationSecrets, KeyParseError,
    Principal, TokenKey,
};
pub use provider::{CodeExchange, Introspect, Revoke, TokenGrant, TokenProvider};
pub use scope::Scopes;
pub use secret::{
    AccessToken, AuthorizationCode, ClientSecret, ExposeSecrets, InstallationSecret, PkceVerifier,
    RefreshToken,
};
pub use state::{
    DEFAULT_MAX_PENDING, DEFAULT_STATE_TTL, MemoryStateStore, PendingAuthorization, StateStore,
};
pub use store::{CasOutcome, DueToken, Lease, MemoryTokenStore, Page, StoredTokenSet, TokenStore};
pub use token::{
    Grantee, MAX_EXPIRES_IN, ProviderExtras, ProviderId, TokenInfo, TokenSet, TokenType,
    expiry_from,
};
pub use token_builder::TokenSetBuilder;
pub use used_states::{DEFAULT_MAX_USED_STATES, MemoryUsedStates, StateId, StateUse, UsedStates};

/// The `url` crate, re-exported: authorization URLs are [`url::Url`]s.
pub use url;
