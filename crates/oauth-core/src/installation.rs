//! How installations and their token sets are named, and what one authorization grants:
//! [`InstallationKey`], [`Principal`], [`TokenKey`], [`Installation`], [`Grant`].
//!
//! An app installed by a workspace (or organisation) holds one **installation** and, under it, one
//! **token set** per principal: the bot's, and one per user who authorized user scopes (Slack), or
//! a single bot token set (Notion). Each token set rotates on its own: it is the unit a token
//! store keeps, a token manager caches and refreshes, and a refresh lease covers.
//!
//! | Text form | Meaning |
//! | --- | --- |
//! | `slack/T0123` | the installation in workspace `T0123` (no Enterprise Grid) |
//! | `slack/E0123/T0123` | the installation in workspace `T0123` of the Enterprise Grid org `E0123` |
//! | `slack/E0123/*` | the org-wide installation of org `E0123`, serving every workspace of the org |
//! | `notion/<bot id>` | a Notion authorization (a bot) |
//! | `slack/E0123/T0123#bot` | the bot token set of that installation |
//! | `slack/T0123#user:U0456` | the user token set of user `U0456` in workspace `T0123` |
//!
//! Every text form parses back (`FromStr`) to the value it was made from.
//!
//! ```
//! use oauth_core::{InstallationKey, Principal, ProviderId, TokenKey};
//! let slack = ProviderId::from_static("slack");
//! let workspace = InstallationKey::workspace(slack.clone(), Some("E0123"), "T0123");
//! assert_eq!(workspace.to_string(), "slack/E0123/T0123");
//! let user = TokenKey::user(workspace.clone(), "U0456");
//! assert_eq!(user.to_string(), "slack/E0123/T0123#user:U0456");
//! assert_eq!("slack/E0123/T0123#user:U0456".parse::<TokenKey>()?, user);
//! assert_eq!(InstallationKey::organization(slack, "E0123").to_string(), "slack/E0123/*");
//! assert_eq!(workspace.enterprise_id(), Some("E0123"));
//! # Ok::<(), oauth_core::KeyParseError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::secret::{ExposeSecrets, InstallationSecret};
use crate::token::{ProviderExtras, ProviderId, TokenSet};

/// The key of an organisation-wide installation ends with this workspace part.
const ALL_WORKSPACES: &str = "*";

/// A text form that is not a key: what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {what}: expected {expected}")]
pub struct KeyParseError {
    what: &'static str,
    expected: &'static str,
}

/// Identifies one installation of an app: a provider and the provider's key for it.
///
/// Workspace-based providers build the key with [`workspace`](Self::workspace) and
/// [`organization`](Self::organization) (see the module docs for the text forms); others with
/// [`new`](Self::new).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstallationKey {
    provider: ProviderId,
    key: String,
}

impl InstallationKey {
    /// An installation key of any form (Notion: the bot id).
    pub fn new(provider: ProviderId, key: impl Into<String>) -> Self {
        Self {
            provider,
            key: key.into(),
        }
    }

    /// The installation in one workspace (Slack: a team), of an organisation (Slack: an
    /// Enterprise Grid) if it belongs to one: `T0123` or `E0123/T0123`.
    pub fn workspace(provider: ProviderId, enterprise: Option<&str>, workspace: &str) -> Self {
        let key = match enterprise.filter(|e| !e.is_empty()) {
            Some(enterprise) => format!("{enterprise}/{workspace}"),
            None => workspace.to_owned(),
        };
        Self::new(provider, key)
    }

    /// The organisation-wide installation of an organisation (Slack: an org-wide install in an
    /// Enterprise Grid), which serves every workspace of the organisation: `E0123/*`.
    pub fn organization(provider: ProviderId, enterprise: &str) -> Self {
        Self::new(provider, format!("{enterprise}/{ALL_WORKSPACES}"))
    }

    /// The provider.
    pub fn provider(&self) -> &ProviderId {
        &self.provider
    }

    /// The provider-defined key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The organisation of a key made by [`workspace`](Self::workspace) with an enterprise, or by
    /// [`organization`](Self::organization).
    pub fn enterprise_id(&self) -> Option<&str> {
        self.key.split_once('/').map(|(enterprise, _)| enterprise)
    }

    /// The workspace of a key made by [`workspace`](Self::workspace) (for other keys: the whole
    /// key, which is not a workspace id unless the provider says so).
    pub fn workspace_id(&self) -> Option<&str> {
        match self.key.split_once('/') {
            Some((_, ALL_WORKSPACES)) => None,
            Some((_, workspace)) => Some(workspace),
            None => Some(&self.key),
        }
    }

    /// Whether the key is an organisation-wide installation's.
    pub fn is_organization(&self) -> bool {
        self.key
            .split_once('/')
            .is_some_and(|(_, workspace)| workspace == ALL_WORKSPACES)
    }
}

impl fmt::Display for InstallationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.key)
    }
}

impl FromStr for InstallationKey {
    type Err = KeyParseError;

    /// `provider/key` (the key may itself contain `/`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = KeyParseError {
            what: "installation key",
            expected: "`provider/key`, e.g. `slack/T0123`, `slack/E0123/T0123` or `slack/E0123/*`",
        };
        match text.split_once('/') {
            Some((provider, key))
                if !provider.is_empty() && !key.is_empty() && !key.contains('#') =>
            {
                Ok(Self::new(ProviderId::new(provider), key))
            }
            _ => Err(error),
        }
    }
}

/// Who a token set acts as within its installation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Principal {
    /// The app's bot (Slack's bot token, Notion's integration token).
    Bot,
    /// A user who authorized the app, by the provider's user id (Slack's user token).
    User(String),
}

impl Principal {
    /// The user's id, for a user principal.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Principal::User(id) => Some(id),
            Principal::Bot => None,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Bot => f.write_str("bot"),
            Principal::User(id) => write!(f, "user:{id}"),
        }
    }
}

impl FromStr for Principal {
    type Err = KeyParseError;

    /// `bot` or `user:<id>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "bot" => Ok(Principal::Bot),
            _ => match text.strip_prefix("user:") {
                Some(id) if !id.is_empty() && !id.contains('#') => {
                    Ok(Principal::User(id.to_owned()))
                }
                _ => Err(KeyParseError {
                    what: "principal",
                    expected: "`bot` or `user:<user id>`",
                }),
            },
        }
    }
}

/// Identifies one token set: an installation and a principal. The unit a token store keeps, a
/// token manager caches and refreshes, and a refresh lease covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenKey {
    installation: InstallationKey,
    principal: Principal,
}

impl TokenKey {
    /// The token set of `principal` in `installation`.
    pub fn new(installation: InstallationKey, principal: Principal) -> Self {
        Self {
            installation,
            principal,
        }
    }

    /// The bot token set of `installation`.
    pub fn bot(installation: InstallationKey) -> Self {
        Self::new(installation, Principal::Bot)
    }

    /// The token set of user `user_id` in `installation`.
    pub fn user(installation: InstallationKey, user_id: impl Into<String>) -> Self {
        Self::new(installation, Principal::User(user_id.into()))
    }

    /// The installation.
    pub fn installation(&self) -> &InstallationKey {
        &self.installation
    }

    /// The principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The provider.
    pub fn provider(&self) -> &ProviderId {
        self.installation.provider()
    }
}

impl fmt::Display for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.installation, self.principal)
    }
}

impl FromStr for TokenKey {
    type Err = KeyParseError;

    /// `provider/key#bot` or `provider/key#user:<id>`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = KeyParseError {
            what: "token key",
            expected: "`provider/key#bot` or `provider/key#user:<user id>`, e.g. `slack/T0123#bot`",
        };
        let (installation, principal) = text.rsplit_once('#').ok_or(error.clone())?;
        Ok(Self::new(
            installation.parse().map_err(|_| error.clone())?,
            principal.parse().map_err(|_| error)?,
        ))
    }
}

/// An installation's secrets that are not tokens (Slack's incoming-webhook URL), by name. `Debug`
/// shows the names only; token stores encrypt them like tokens.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct InstallationSecrets(BTreeMap<String, InstallationSecret>);

impl InstallationSecrets {
    /// No secret.
    pub fn new() -> Self {
        Self::default()
    }

    /// The secret named `name`.
    pub fn get(&self, name: &str) -> Option<&InstallationSecret> {
        self.0.get(name)
    }

    /// Sets the secret named `name`.
    pub fn insert(&mut self, name: impl Into<String>, secret: InstallationSecret) {
        self.0.insert(name.into(), secret);
    }

    /// The secrets, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &InstallationSecret)> {
        self.0.iter().map(|(name, secret)| (name.as_str(), secret))
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for InstallationSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Serialize for ExposeSecrets<'_, InstallationSecrets> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.0.len()))?;
        for (name, secret) in &self.0.0 {
            map.serialize_entry(name, &ExposeSecrets(secret))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for InstallationSecrets {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, InstallationSecret>::deserialize(deserializer).map(Self)
    }
}

/// An installation as an app keeps it, tokens apart: who installed it where, with what, and when.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Installation {
    /// Its key.
    pub key: InstallationKey,
    /// The organisation it belongs to (Slack's Enterprise Grid org), so that all of an
    /// organisation's installations can be found and removed together.
    pub enterprise_id: Option<String>,
    /// Provider data without secrets (Slack: app id, team, enterprise, whether org-wide, the bot
    /// user, the installer, the scopes; typed views in the provider crates).
    pub details: ProviderExtras,
    /// Secrets that are not tokens (Slack's incoming-webhook URL).
    pub secrets: InstallationSecrets,
    /// When this install (or reinstall) happened.
    pub installed_at: SystemTime,
}

impl Installation {
    /// An installation with nothing but its key, installed at `installed_at`.
    pub fn new(key: InstallationKey, installed_at: SystemTime) -> Self {
        Self {
            enterprise_id: key.enterprise_id().map(str::to_owned),
            key,
            details: ProviderExtras::new(),
            secrets: InstallationSecrets::new(),
            installed_at,
        }
    }
}

/// One token set that a grant yielded, and whose it is.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct GrantedTokens {
    /// Who the tokens act as.
    pub principal: Principal,
    /// The tokens.
    pub tokens: TokenSet,
}

/// Everything one authorization granted: the installation, and every token set it yielded (Slack:
/// the bot's and the installing user's; Notion: its one bot token set). Saving a grant saves all
/// of it; each token set then rotates on its own.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Grant {
    /// The installation.
    pub installation: Installation,
    /// The token sets, at most one per principal.
    pub tokens: Vec<GrantedTokens>,
}

impl Grant {
    /// A grant of `installation`, with no token set yet.
    pub fn new(installation: Installation) -> Self {
        Self {
            installation,
            tokens: Vec::new(),
        }
    }

    /// Adds (or replaces) the token set of `principal`.
    pub fn with_tokens(mut self, principal: Principal, tokens: TokenSet) -> Self {
        self.tokens.retain(|granted| granted.principal != principal);
        self.tokens.push(GrantedTokens { principal, tokens });
        self
    }

    /// The key of `principal`'s token set.
    pub fn token_key(&self, principal: Principal) -> TokenKey {
        TokenKey::new(self.installation.key.clone(), principal)
    }

    /// The token set of `principal`, if granted.
    pub fn tokens_of(&self, principal: &Principal) -> Option<&TokenSet> {
        self.tokens
            .iter()
            .find(|granted| &granted.principal == principal)
            .map(|granted| &granted.tokens)
    }

    /// Whether this grant (re)installs the app: it carries the bot's token set. Saving it replaces
    /// the installation's record. A grant of user token sets only (a user authorizing user scopes
    /// in a workspace where the app is installed) adds those users and leaves the record, the
    /// bot's details and secrets such as the incoming webhook, as they are (it creates the
    /// record of an installation not yet known).
    pub fn is_install(&self) -> bool {
        self.tokens_of(&Principal::Bot).is_some()
    }

    /// The token set a caller wanting one token takes: the bot's if granted, else the first
    /// user's.
    pub fn primary(&self) -> Option<&GrantedTokens> {
        self.tokens
            .iter()
            .find(|granted| granted.principal == Principal::Bot)
            .or_else(|| self.tokens.first())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SLACK: ProviderId = ProviderId::from_static("slack");

    #[test]
    fn keys_and_their_text_forms_round_trip() {
        // (key, text, enterprise, workspace, org-wide)
        let cases = [
            (
                InstallationKey::workspace(SLACK, None, "T0123"),
                "slack/T0123",
                None,
                Some("T0123"),
                false,
            ),
            (
                InstallationKey::workspace(SLACK, Some("E0123"), "T0123"),
                "slack/E0123/T0123",
                Some("E0123"),
                Some("T0123"),
                false,
            ),
            (
                InstallationKey::organization(SLACK, "E0123"),
                "slack/E0123/*",
                Some("E0123"),
                None,
                true,
            ),
            (
                InstallationKey::new(ProviderId::from_static("notion"), "0b1c2d3e-bot"),
                "notion/0b1c2d3e-bot",
                None,
                Some("0b1c2d3e-bot"),
                false,
            ),
        ];
        for (key, text, enterprise, workspace, org) in cases {
            assert_eq!(key.to_string(), text);
            assert_eq!(text.parse::<InstallationKey>().unwrap(), key);
            assert_eq!(key.enterprise_id(), enterprise, "{text}");
            assert_eq!(key.workspace_id(), workspace, "{text}");
            assert_eq!(key.is_organization(), org, "{text}");
            for principal in [Principal::Bot, Principal::User("U0456".into())] {
                let token_key = TokenKey::new(key.clone(), principal.clone());
                let text = token_key.to_string();
                assert_eq!(text.parse::<TokenKey>().unwrap(), token_key, "{text}");
                assert_eq!(text.parse::<TokenKey>().unwrap().principal(), &principal);
            }
        }
        assert_eq!(
            InstallationKey::workspace(SLACK, Some(""), "T1"),
            InstallationKey::workspace(SLACK, None, "T1"),
            "an empty enterprise is none"
        );
    }

    #[test]
    fn malformed_text_forms_are_refused_with_what_was_expected() {
        for bad in ["", "slack", "slack/", "/T1", "slack/T1#bot"] {
            let error = bad.parse::<InstallationKey>().unwrap_err();
            assert!(error.to_string().contains("slack/T0123"), "{bad}: {error}");
        }
        for bad in [
            "",
            "slack/T1",
            "slack/T1#",
            "slack/T1#robot",
            "slack/T1#user:",
            "#bot",
        ] {
            let error = bad.parse::<TokenKey>().unwrap_err();
            assert!(error.to_string().contains("#user:"), "{bad}: {error}");
        }
        assert!("user".parse::<Principal>().is_err());
    }

    #[test]
    fn a_grant_holds_one_token_set_per_principal_and_names_the_primary() {
        use crate::secret::AccessToken;
        use crate::token::TokenType;
        let tokens = |access: &str| {
            TokenSet::builder(SLACK, AccessToken::new(access))
                .token_type(TokenType::Bot)
                .issued_at(SystemTime::UNIX_EPOCH)
                .build()
        };
        let key = InstallationKey::workspace(SLACK, None, "T1");
        let user_only = Grant::new(Installation::new(key.clone(), SystemTime::UNIX_EPOCH))
            .with_tokens(Principal::User("U1".into()), tokens("xoxp-1"));
        assert_eq!(
            user_only.primary().unwrap().principal,
            Principal::User("U1".into())
        );
        let both = user_only
            .with_tokens(Principal::Bot, tokens("xoxb-1"))
            .with_tokens(Principal::Bot, tokens("xoxb-2"));
        assert_eq!(
            both.tokens.len(),
            2,
            "a principal's token set is replaced, not added"
        );
        assert_eq!(both.primary().unwrap().principal, Principal::Bot);
        assert_eq!(
            both.tokens_of(&Principal::Bot)
                .unwrap()
                .access_token
                .expose_secret(),
            "xoxb-2"
        );
        assert_eq!(both.token_key(Principal::Bot), TokenKey::bot(key));
    }

    #[test]
    fn installation_secrets_never_show_in_debug() {
        let mut installation = Installation::new(
            InstallationKey::workspace(SLACK, None, "T1"),
            SystemTime::UNIX_EPOCH,
        );
        installation.secrets.insert(
            "incoming_webhook_url",
            InstallationSecret::new("https://hooks.slack.com/services/T1/B1/s3cr3t"),
        );
        let shown = format!("{installation:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("incoming_webhook_url"), "{shown}");
        let exposed = serde_json::to_string(&ExposeSecrets(&installation.secrets)).unwrap();
        let back: InstallationSecrets = serde_json::from_str(&exposed).unwrap();
        assert_eq!(back, installation.secrets);
    }
}
