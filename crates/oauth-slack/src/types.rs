//! Types shared by several methods: team and enterprise references, the incoming webhook, and
//! the typed view of the extras this crate puts in a [`TokenSet`].

use std::fmt;

use oauth_core::{Grantee, ProviderExtras, TokenSet};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer, Serialize};

/// A workspace (`team`) as Slack names it in OAuth answers. The name is missing in some answers
/// (Sign in with Slack).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Team {
    /// `T…`.
    pub id: String,
    /// The workspace name.
    #[serde(default)]
    pub name: Option<String>,
}

/// An Enterprise Grid organization.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Enterprise {
    /// `E…`.
    pub id: String,
    /// The organization name.
    #[serde(default)]
    pub name: Option<String>,
}

/// An incoming-webhook URL. It is a credential (anyone holding it can post to the channel), so it
/// is kept like a token: redacted `Debug`, read with [`expose_secret`](Self::expose_secret).
#[derive(Clone)]
pub struct WebhookUrl(SecretString);

impl WebhookUrl {
    /// Wraps a webhook URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self(SecretString::from(url.into()))
    }

    /// The URL. Only to post to it or store it, never to log it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

impl PartialEq for WebhookUrl {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for WebhookUrl {}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(WebhookUrl::new)
    }
}

/// The incoming webhook created by an install with the `incoming-webhook` scope.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct IncomingWebhook {
    /// The webhook URL (a credential).
    pub url: WebhookUrl,
    /// The channel name (`#general`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The channel id (`C…`); missing in legacy `oauth.access` answers.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The page where the user can manage the webhook.
    #[serde(default)]
    pub configuration_url: Option<String>,
}

/// The non-secret part of an incoming webhook, as kept in [`TokenSet::extras`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct WebhookChannel {
    /// The channel name.
    #[serde(default)]
    pub channel: Option<String>,
    /// The channel id.
    #[serde(default)]
    pub channel_id: Option<String>,
    /// The configuration page.
    #[serde(default)]
    pub configuration_url: Option<String>,
}

/// The Slack-specific fields this crate keeps in [`TokenSet::extras`] (never a secret), typed.
///
/// ```
/// use oauth_slack::SlackTokenExtras;
/// # fn show(tokens: &oauth_core::TokenSet) {
/// let extras = SlackTokenExtras::from_token_set(tokens);
/// println!("app {:?}, org-wide: {}", extras.app_id, extras.is_enterprise_install);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlackTokenExtras {
    /// `app_id` (`A…`).
    pub app_id: Option<String>,
    /// `is_enterprise_install`: an org-wide install.
    pub is_enterprise_install: bool,
    /// The incoming webhook's channel, without its URL.
    pub incoming_webhook: Option<WebhookChannel>,
}

pub(crate) const EXTRA_APP_ID: &str = "app_id";
pub(crate) const EXTRA_ENTERPRISE_INSTALL: &str = "is_enterprise_install";
pub(crate) const EXTRA_WEBHOOK: &str = "incoming_webhook";

impl SlackTokenExtras {
    /// Reads the extras of a token set made by this crate.
    pub fn from_token_set(tokens: &TokenSet) -> Self {
        Self::from_extras(&tokens.extras)
    }

    /// Reads Slack extras from a [`ProviderExtras`].
    pub fn from_extras(extras: &ProviderExtras) -> Self {
        Self {
            app_id: extras.get_as(EXTRA_APP_ID),
            is_enterprise_install: extras.get_as(EXTRA_ENTERPRISE_INSTALL).unwrap_or(false),
            incoming_webhook: extras.get_as(EXTRA_WEBHOOK),
        }
    }

    /// Sets these fields in `extras` (the app id moved in, not copied).
    pub(crate) fn write(self, extras: &mut ProviderExtras) {
        if let Some(app_id) = self.app_id {
            extras.insert(EXTRA_APP_ID, app_id.into());
        }
        extras.insert(EXTRA_ENTERPRISE_INSTALL, self.is_enterprise_install.into());
        if let Some(webhook) = &self.incoming_webhook {
            extras.insert_serialized(EXTRA_WEBHOOK, webhook);
        }
    }
}

/// A grantee from team and enterprise references.
pub(crate) fn grantee(team: Option<&Team>, enterprise: Option<&Enterprise>) -> Grantee {
    let mut grantee = Grantee::new();
    if let Some(team) = team {
        grantee.workspace_id = Some(team.id.clone());
        grantee.workspace_name = team.name.clone();
    }
    if let Some(enterprise) = enterprise {
        grantee.enterprise_id = Some(enterprise.id.clone());
        grantee.enterprise_name = enterprise.name.clone();
    }
    grantee
}

/// Accepts an object or `null` (Slack sends `"team": null` for org-wide installs) and treats a
/// reference with an empty id as absent.
pub(crate) fn nullable_ref<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + HasId,
{
    Ok(Option::<T>::deserialize(deserializer)?.filter(|t| !t.id().is_empty()))
}

/// Something with an id.
pub(crate) trait HasId {
    fn id(&self) -> &str;
}

impl HasId for Team {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for Enterprise {
    fn id(&self) -> &str {
        &self.id
    }
}
