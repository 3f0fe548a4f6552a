//! What the manager tells the application: every event is logged with `tracing` and, if a hook is
//! set, passed to it.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use oauth_core::{ErrorKind, TokenKey};

/// A lifecycle event of one installation. Carries no secret.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TokenEvent {
    /// The tokens were refreshed (and, where the provider rotates, the refresh token rotated) and
    /// written to the store.
    Refreshed {
        /// The installation.
        key: TokenKey,
        /// The new access token's expiry.
        expires_at: Option<SystemTime>,
    },
    /// Another task or process had already refreshed: the manager picked up its tokens.
    PickedUp {
        /// The installation.
        key: TokenKey,
    },
    /// A refresh failed for a reason that may pass.
    RefreshFailed {
        /// The installation.
        key: TokenKey,
        /// The classification of the failure.
        kind: ErrorKind,
        /// Whether the still-valid old token was served instead.
        served_old_token: bool,
    },
    /// The provider refused the grant for good: the installation is marked and the user must
    /// authorize the app again.
    ReauthorizationRequired {
        /// The installation.
        key: TokenKey,
        /// The provider's code (`invalid_refresh_token`, `invalid_grant`, …).
        reason: String,
    },
    /// The store refused the write of freshly rotated tokens. They are served from memory and
    /// the write is retried with backoff until it lands (then `Refreshed` follows); until then a
    /// crash of this process would lose them.
    WriteDelayed {
        /// The installation.
        key: TokenKey,
        /// The classification of the store's failure.
        kind: ErrorKind,
    },
    /// The refresh lease was taken by another holder while this process was still refreshing
    /// (it could not renew it in time). The write that follows settles any conflict.
    LeaseLost {
        /// The installation.
        key: TokenKey,
    },
    /// The token set was deleted from the store without a revocation, because the provider had
    /// already ended it ([`TokenManager::forget`](crate::TokenManager::forget),
    /// [`forget_installation`](crate::TokenManager::forget_installation): Slack's
    /// `tokens_revoked` and `app_uninstalled` events).
    Removed {
        /// The token set.
        key: TokenKey,
        /// Why, in the caller's words (`tokens_revoked`, `app_uninstalled`, …).
        reason: String,
    },
}

/// Receives [`TokenEvent`]s. Called inline: keep it quick and non-blocking.
#[derive(Clone)]
pub struct EventHook(pub(crate) Arc<dyn Fn(&TokenEvent) + Send + Sync>);

impl EventHook {
    /// A hook from a closure.
    pub fn new(hook: impl Fn(&TokenEvent) + Send + Sync + 'static) -> Self {
        Self(Arc::new(hook))
    }
}

impl fmt::Debug for EventHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EventHook")
    }
}

pub(crate) fn emit(hook: Option<&EventHook>, event: TokenEvent) {
    match &event {
        TokenEvent::Refreshed { key, expires_at } => {
            tracing::info!(installation = %key, ?expires_at, "tokens refreshed")
        }
        TokenEvent::PickedUp { key } => {
            tracing::debug!(installation = %key, "tokens refreshed elsewhere picked up")
        }
        TokenEvent::RefreshFailed {
            key,
            kind,
            served_old_token,
        } => tracing::warn!(installation = %key, ?kind, served_old_token, "refresh failed"),
        TokenEvent::ReauthorizationRequired { key, reason } => {
            tracing::error!(installation = %key, reason = %reason, "re-authorization required")
        }
        TokenEvent::WriteDelayed { key, kind } => {
            tracing::error!(installation = %key, ?kind, "rotated tokens not written yet; serving them from memory and retrying the write")
        }
        TokenEvent::LeaseLost { key } => {
            tracing::warn!(installation = %key, "the refresh lease was lost during the refresh")
        }
        TokenEvent::Removed { key, reason } => {
            tracing::info!(installation = %key, reason = %reason, "token set removed")
        }
    }
    if let Some(hook) = hook {
        (hook.0)(&event);
    }
}
