//! The Slack provider (feature `slack`), and [`authorize`]: from a request Slack sent to its
//! tokens; with the `axum` feature, [`events`]: the Events API endpoint and Slack's request
//! verification.

pub use crate::slack_authorize::{SlackAuthorization, authorize};
pub use oauth_slack::*;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod events;
