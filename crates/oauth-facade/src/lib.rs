//! OAuth token lifecycle for Notion and Slack in one dependency: [`oauth_core`] (traits, tokens,
//! errors) and [`oauth_manager`] (the token manager) always, the rest behind features.
//!
//! | Feature | Brings | Module |
//! | --- | --- | --- |
//! | `notion` | the Notion provider | [`notion`] |
//! | `slack` | the Slack provider, `id_token` verification included (`oauth-slack`'s `openid`) | [`slack`] |
//! | `sqlite` | the SQLite token store, and [`StoreConfig`] (a store URL and its encryption key) | [`store`] |
//! | `postgres` | the PostgreSQL token store | [`store`] |
//! | `postgres-tls` | PostgreSQL over TLS (`sslmode=require`/`verify-full` URLs; rustls on ring, the system's roots plus the URL's `sslrootcert`) | [`store`] |
//! | `sandbox` | the offline emulator, for tests and demos | [`sandbox`] |
//! | `mock` | mockall mocks of the traits, and `FaultyStore` (a token store that fails, delays or blocks chosen calls) | [`mock`] |
//! | `axum` | an install flow to mount in an axum app; with `slack`, the Events API endpoint (signatures verified, retries deduplicated, revocations applied) | [`install`], `slack::events` |
//! | `client` | HTTP clients whose requests carry managed tokens (`oauth-client`): a reqwest middleware, and a tower layer for hyper and tower-based clients | [`client`] |
//!
//! No feature pulls in what it does not need: a build with only `slack` compiles neither Notion,
//! nor sqlx, nor axum.
//!
//! # TLS, and your own `reqwest`
//!
//! Cargo unifies a crate's features across your whole build: what this crate asks of reqwest
//! 0.13, your own `reqwest` gets too. It asks for reqwest's `rustls` feature (rustls with the
//! crypto provider your application installed as the process's default, if any, else
//! aws-lc-rs; the system's root certificates) and installs no provider, so your `reqwest` keeps
//! working whatever its features:
//!
//! | Your `reqwest` 0.13 | Your `Client::new()` | This crate's transport |
//! | --- | --- | --- |
//! | none (the facade alone) | — | rustls on aws-lc-rs |
//! | default features | works (aws-lc-rs) | rustls on aws-lc-rs |
//! | `default-features = false`, `rustls` | works (aws-lc-rs) | rustls on aws-lc-rs |
//! | `default-features = false`, `json` only | works, and gains HTTPS | rustls on aws-lc-rs |
//! | `rustls-no-provider`, a provider installed | works (yours) | rustls on your provider |
//!
//! The cost is aws-lc-sys's C build (a C compiler), which an application with reqwest's default
//! features pays anyway. reqwest offers no ring feature, and its `rustls-no-provider` would make a
//! provider-less `Client::new()` in your code panic. The `postgres-tls` feature adds ring (sqlx's
//! rustls on ring). A `reqwest::Client` of your own can also carry the calls:
//! `ReqwestTransport::from_client` (it never lets a redirect carry credentials away).
//!
//! # What is where
//!
//! The root holds what most apps name: the provider traits ([`TokenProvider`] and the
//! [`TokenGrant`], [`Introspect`], [`Revoke`] it combines), a grant's tokens ([`TokenSet`],
//! [`TokenSetBuilder`], [`TokenInfo`], [`Grantee`], [`Scopes`]), the secret types
//! ([`AccessToken`], [`RefreshToken`], [`ClientSecret`], …), installations ([`Installation`],
//! [`InstallationKey`], [`TokenKey`], [`Principal`]), the token manager ([`TokenManager`]), the
//! configuration ([`ProviderConfig`]) and [`Error`]/[`ErrorKind`]. Each module holds one area
//! whole, the root's items of that area included: [`authorize`] (requests, states, PKCE,
//! callbacks, beneath the install flow), [`error`] (what an error carries), [`http`] (the
//! transport seam), [`store`], and the feature modules below. The provider modules ([`notion`],
//! [`slack`]) are the same shape: `PROVIDER`, the client and its builder (`base_url`,
//! `http_client`, `retry_policy`, `clock`), typed answers, errors.
//!
//! Pick the provider at run time from configuration ([`ProviderConfig`]), and write the rest
//! against `Arc<dyn TokenProvider>`:
//!
//! ```no_run
//! use std::sync::Arc;
//! use oauth_facade::{ProviderConfig, ProviderKind, TokenManager, TokenProvider, MemoryTokenStore};
//!
//! # fn run() -> oauth_facade::Result<()> {
//! let kind: ProviderKind = std::env::var("PROVIDER").unwrap_or_else(|_| "slack".into()).parse()?;
//! let provider: Arc<dyn TokenProvider> = ProviderConfig::from_env(kind)?.build()?;
//! let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build()?;
//! # let _ = manager; Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod install;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub use config::StoreConfig;
pub use config::{ProviderConfig, ProviderKind};
pub use oauth_core::{
    AccessToken, AuthorizationCode, AuthorizationRequest, ClientSecret, Clock, CodeExchange, Error,
    ErrorKind, ExposeSecrets, Grant, GrantedTokens, Grantee, Installation, InstallationKey,
    InstallationSecret, InstallationSecrets, Introspect, ManualClock, MemoryTokenStore,
    PkceVerifier, Principal, ProviderExtras, ProviderId, RefreshToken, Result, Revoke, Scopes,
    SystemClock, TokenGrant, TokenInfo, TokenKey, TokenProvider, TokenSet, TokenSetBuilder,
    TokenStore, TokenType,
};
pub use oauth_manager::{
    EventHook, ManagerConfig, Refresher, RefresherConfig, TokenEvent, TokenManager,
    TokenManagerBuilder,
};

/// Starting an authorization and checking its callback by hand, beneath the install flow:
/// authorization requests, CSRF states and PKCE, the pending-authorization and used-state stores.
pub mod authorize {
    pub use oauth_core::{
        AuthorizationRequest, CallbackParams, CallbackResponse, CsrfState, DEFAULT_MAX_PENDING,
        DEFAULT_MAX_USED_STATES, DEFAULT_STATE_TTL, MAX_CALLBACK_QUERY, MemoryStateStore,
        MemoryUsedStates, PendingAuthorization, PkceChallenge, ScopeSeparator, StateId, StateStore,
        StateUse, UsedStates, VerifiedCallback, check_redirect_uri, exchange_redirect_uri,
        verify_callback,
    };
}

/// The details of an [`Error`]: the provider's answer, the transport's failure, what was sent,
/// and the advice each error gives.
pub mod error {
    pub use oauth_core::{
        CallbackError, Error, ErrorKind, GenericProviderError, KeyParseError,
        MAX_QUOTED_DESCRIPTION, MAX_QUOTED_ERROR_CODE, ProviderError, RequestSent, Result,
        TransportError, TransportErrorKind, UndecodableResponse, advice,
    };
}

/// The HTTP seam every provider client calls through: [`HttpClient`](http::HttpClient) (a
/// transport and a retry policy), the reqwest transport, and the trait for your own.
pub mod http {
    pub use oauth_core::http::*;
}

/// mockall mocks of the traits, and a token store that fails, delays or blocks chosen calls
/// (feature `mock`).
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock {
    pub use oauth_core::mock::*;
}

/// Calling the providers' APIs with managed tokens (feature `client`): [`ManagedAuth`](client::ManagedAuth),
/// a reqwest-middleware layer that injects a valid token and recovers from a refused one, and
/// [`ManagedAuthLayer`](client::tower::ManagedAuthLayer), the same as a tower layer.
///
/// ```no_run
/// # async fn run(manager: oauth_facade::TokenManager, key: oauth_facade::TokenKey) -> Result<(), Box<dyn std::error::Error>> {
/// use oauth_facade::client::{ManagedAuth, reqwest_middleware::ClientBuilder};
///
/// let slack = ClientBuilder::new(reqwest::Client::new())
///     .with(ManagedAuth::new(manager, key))
///     .build();
/// let answer = slack
///     .post("https://slack.com/api/chat.postMessage")
///     .form(&[("channel", "C0123"), ("text", "hello")])
///     .send()
///     .await?;
/// # let _ = answer;
/// # Ok(()) }
/// ```
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client {
    pub use oauth_client::*;
}

/// The Notion provider (feature `notion`).
#[cfg(feature = "notion")]
#[cfg_attr(docsrs, doc(cfg(feature = "notion")))]
pub mod notion {
    pub use oauth_notion::*;
}

#[cfg(feature = "slack")]
#[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
pub mod slack;
#[cfg(feature = "slack")]
mod slack_authorize;

/// Token stores: the trait, the in-memory store, and the SQLite and PostgreSQL stores with
/// encryption at rest (features `sqlite`, `postgres`, `postgres-tls`).
pub mod store {
    pub use oauth_core::store::{
        CasOutcome, DueToken, Lease, MAX_LEASE_TTL, MAX_PAGE_SIZE, MemoryTokenStore, Page,
        StoredTokenSet, TokenStore, page_limit,
    };
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
    pub use oauth_store::*;
}

/// The offline emulator (feature `sandbox`).
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox {
    pub use oauth_sandbox::*;
}
