//! The token lifecycle: [`TokenManager`] hands out a valid access token per installation, refreshing
//! it once (per installation, across tasks and processes) before it expires, over any
//! [`oauth_core::TokenProvider`] and [`oauth_core::TokenStore`].
//!
//! Slack refresh tokens are single-use: two replicas refreshing at once, or a process dying between
//! the refresh and the write, can lock an installation out. The manager prevents both: one refresh
//! at a time (an async mutex per installation in the process, the store's refresh lease across
//! processes), the rotated tokens written with compare-and-swap before they are served, and the
//! refresh run in a task of its own so that a cancelled caller cannot abandon it half-way. If the
//! response of a refresh is lost (the provider may have rotated), the old access token is served
//! while it is valid and the refresh is retried within a second, inside Slack's grace period for
//! the spent refresh token.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod config;
mod events;
mod eviction;
mod flight;
mod manager;
mod pages;
mod reconcile;
mod refresher;
mod removal;
mod revalidate;
mod slot;

pub use config::{MAX_BACKOFF, ManagerConfig};
pub use events::{EventHook, TokenEvent};
pub use manager::{TokenManager, TokenManagerBuilder};
pub use refresher::{Refresher, RefresherConfig};
