//! OAuth token lifecycle for Notion and Slack in one dependency: [`oauth_core`] (traits, tokens,
//! errors) and [`oauth_manager`] (the token manager) always, the rest behind features.
//!
//! | Feature | Brings | Module |
//! | --- | --- | --- |
//! | `notion` | the Notion provider | [`notion`] |
//! | `slack` | the Slack provider, `id_token` verification included (`oauth-slack`'s `openid`) | [`slack`] |
//! | `sqlite` | the SQLite token store | [`store`] |
//! | `postgres` | the PostgreSQL token store | [`store`] |
//! | `postgres-tls` | PostgreSQL over TLS (`sslmode=require`/`verify-full` URLs; rustls on ring, the system's roots plus the URL's `sslrootcert`) | [`store`] |
//! | `sandbox` | the offline emulator, for tests and demos | [`sandbox`] |
//! | `mock` | mockall mocks of the traits | [`mock`] |
//! | `axum` | an install flow to mount in an axum app | [`install`] |
//!
//! No feature pulls in what it does not need: a build with only `slack` compiles neither Notion,
//! nor sqlx, nor axum.
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
//! let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new())).build();
//! # let _ = manager; Ok(()) }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod install;

pub use config::{ProviderConfig, ProviderKind};
pub use oauth_core::*;
pub use oauth_manager::{EventHook, ManagerConfig, TokenEvent, TokenManager, TokenManagerBuilder};

/// The Notion provider (feature `notion`).
#[cfg(feature = "notion")]
#[cfg_attr(docsrs, doc(cfg(feature = "notion")))]
pub mod notion {
    pub use oauth_notion::*;
}

/// The Slack provider (feature `slack`).
#[cfg(feature = "slack")]
#[cfg_attr(docsrs, doc(cfg(feature = "slack")))]
pub mod slack {
    pub use oauth_slack::*;
}

/// Token stores (features `sqlite`, `postgres`, `postgres-tls`).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "sqlite", feature = "postgres"))))]
pub mod store {
    pub use oauth_store::*;
}

/// The offline emulator (feature `sandbox`).
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox {
    pub use oauth_sandbox::*;
}
