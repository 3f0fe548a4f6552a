//! Calling Slack and Notion with managed tokens: a [`reqwest_middleware`] layer,
//! [`ManagedAuth`], that puts a valid token from a [`TokenManager`](oauth_manager::TokenManager)
//! on each request, and when the provider refuses it (Slack `token_expired`, `invalid_auth`,
//! `not_authed` inside HTTP 200; Notion `401`), tells the manager, refreshes once (single
//! flight, as always) and sends the request once more. What Go's `oauth2.Config.Client` does,
//! with Slack's and Notion's ways of saying no.
//!
//! The same behaviour for hyper and other tower-based clients is the [`tower`] module's
//! [`ManagedAuthLayer`](tower::ManagedAuthLayer): both layers share one set of decisions (what to
//! report, when to resend, when to mark a grant revoked); they differ only in how they send and
//! read. The rules that read a provider's answer are in [`verdict`].
//!
//! ```no_run
//! # async fn run(manager: oauth_manager::TokenManager) -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_client::{ManagedAuth, reqwest_middleware::ClientBuilder};
//! use oauth_core::{InstallationKey, ProviderId, TokenKey};
//!
//! // One client for every installation: each request names its token set.
//! let slack = ClientBuilder::new(reqwest::Client::new())
//!     .with(ManagedAuth::per_request(manager))
//!     .build();
//! let team = InstallationKey::workspace(ProviderId::from_static("slack"), None, "T0123");
//! let answer = slack
//!     .post("https://slack.com/api/chat.postMessage")
//!     .with_extension(TokenKey::bot(team))
//!     .form(&[("channel", "C0123"), ("text", "hello")])
//!     .send()
//!     .await?;
//! # let _ = answer;
//! # Ok(()) }
//! ```
//!
//! # With retries and rate limits
//!
//! `ManagedAuth` never retries a rate limit or a server error; it resends only after a refused
//! token, at most once. Put a retry layer (say `reqwest-retry`) after it in the chain
//! (`.with(ManagedAuth…).with(retry)`): the retry layer then sees each attempt with its token and
//! alone decides about a `429` and its `Retry-After`, which is honoured once, not once per layer.
//! Before it, a retry would also repeat the token lookup, harmlessly, but a resend after a refused
//! token would pass through it twice.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod decide;
mod error;
mod middleware;
pub mod tower;
pub mod verdict;

pub use error::ClientError;
pub use middleware::{ManagedAuth, NotIdempotent};
pub use reqwest_middleware;
