//! What a provider hands back: [`TokenSet`] after a grant, [`TokenInfo`] after introspection.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::scope::Scopes;
use crate::secret::{AccessToken, ExposeSecrets, RefreshToken};
use crate::token_builder::TokenSetBuilder;

/// Names a provider (`"notion"`, `"slack"`, or a user's own). `oauth-core` knows no provider: the id
/// is only a label that stores and logs key on.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderId(Cow<'static, str>);

impl ProviderId {
    /// A provider id from a static string, usable in `const` items.
    pub const fn from_static(id: &'static str) -> Self {
        Self(Cow::Borrowed(id))
    }

    /// A provider id from any string.
    pub fn new(id: impl Into<String>) -> Self {
        Self(Cow::Owned(id.into()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of an access token, parsed leniently from the provider's `token_type`.
///
/// Providers spell it differently (`"bearer"`, `"Bearer"`, `"bot"`, `"granular_bot"`, `"user"`); all
/// of these are sent as `Authorization: Bearer`. Unknown values are kept in [`TokenType::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// A plain bearer token (`"bearer"`, any case).
    Bearer,
    /// A token acting as a bot or app user (`"bot"`, `"granular_bot"`).
    Bot,
    /// A token acting as a human user (`"user"`).
    User,
    /// Any other value, as received.
    Other(String),
}

impl TokenType {
    /// Parses a provider's `token_type` string (case-insensitive).
    pub fn parse(value: &str) -> Self {
        let is = |name: &str| value.eq_ignore_ascii_case(name);
        if is("bearer") {
            TokenType::Bearer
        } else if is("bot") || is("granular_bot") {
            TokenType::Bot
        } else if is("user") {
            TokenType::User
        } else {
            TokenType::Other(value.to_owned())
        }
    }

    /// The canonical lower-case spelling.
    pub fn as_str(&self) -> &str {
        match self {
            TokenType::Bearer => "bearer",
            TokenType::Bot => "bot",
            TokenType::User => "user",
            TokenType::Other(other) => other,
        }
    }
}

impl Serialize for TokenType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TokenType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| TokenType::parse(&s))
    }
}

/// Who a token was granted to. Every field is optional: each provider fills what it knows
/// (Slack: team, enterprise, user, bot; Notion: workspace and bot).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Grantee {
    /// Workspace (Notion) or team (Slack) id.
    pub workspace_id: Option<String>,
    /// Workspace or team display name.
    pub workspace_name: Option<String>,
    /// Enterprise / organization id (Slack Enterprise Grid).
    pub enterprise_id: Option<String>,
    /// Enterprise / organization display name.
    pub enterprise_name: Option<String>,
    /// The user the token acts for, or the user who installed the app.
    pub user_id: Option<String>,
    /// The bot the token acts as (Notion `bot_id`, Slack bot user id).
    pub bot_id: Option<String>,
}

impl Grantee {
    /// A grantee with no field set.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Provider-specific response fields that have no place in the common types, kept as JSON.
///
/// Provider crates offer typed views of these. By contract no secret is ever stored here, and as a
/// second line of defence `Debug` prints only the keys.
///
/// The entries are made into one JSON object only when first read: a token set that is stored
/// or handed on without its extras being looked at (the usual refresh) never builds the tree,
/// and a provider can set a value as the JSON text it received ([`insert_json`](Self::insert_json)).
/// A later entry under a key replaces an earlier one; `null` values are skipped, so that absent
/// and `null` read the same.
#[derive(Default)]
pub struct ProviderExtras {
    /// The entries as set, in order, while the object is not made.
    entries: Vec<(Cow<'static, str>, Extra)>,
    /// The entries as one object, made from `entries` at the first read; once made, it is the
    /// extras and `entries` is no longer read.
    object: OnceLock<serde_json::Map<String, serde_json::Value>>,
}

/// One value of [`ProviderExtras`], as it was set.
#[derive(Clone)]
enum Extra {
    Value(serde_json::Value),
    Json(Box<RawValue>),
}

impl ProviderExtras {
    /// No extras.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.as_map().get(key)
    }

    /// Sets `key`; `null` values are skipped so that absent and `null` read the same.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, value: serde_json::Value) {
        if !value.is_null() {
            self.set(key.into(), Extra::Value(value));
        }
    }

    /// Sets `key` to a JSON value as received, parsed only if the extras are read (`null` is
    /// skipped, as by [`insert`](Self::insert); so is text nested deeper than serde_json reads a
    /// value, which then reads as absent).
    ///
    /// ```
    /// use oauth_core::ProviderExtras;
    /// use serde_json::value::RawValue;
    ///
    /// let owner: Box<RawValue> = serde_json::from_str(r#"{"type": "workspace"}"#)?;
    /// let mut extras = ProviderExtras::new();
    /// extras.insert_json("owner", owner);
    /// assert_eq!(extras.get("owner"), Some(&serde_json::json!({"type": "workspace"})));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn insert_json(&mut self, key: impl Into<Cow<'static, str>>, json: Box<RawValue>) {
        if json.get().trim() != "null" {
            self.set(key.into(), Extra::Json(json));
        }
    }

    fn set(&mut self, key: Cow<'static, str>, value: Extra) {
        match self.object.get_mut() {
            Some(object) => {
                if let Some(value) = value.into_value() {
                    object.insert(key.into_owned(), value);
                }
                // The object was made from them: they are not read again.
                self.entries = Vec::new();
            }
            None => self.entries.push((key, value)),
        }
    }

    /// Serializes `value` and sets it under `key` (skipped if it serializes to `null` or fails).
    pub fn insert_serialized<T: Serialize>(
        &mut self,
        key: impl Into<Cow<'static, str>>,
        value: &T,
    ) {
        if let Ok(value) = serde_json::to_value(value) {
            self.insert(key, value);
        }
    }

    /// Decodes the value under `key` as `T`; `None` if absent or of another shape.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The underlying JSON object.
    pub fn as_map(&self) -> &serde_json::Map<String, serde_json::Value> {
        self.object.get_or_init(|| {
            let mut object = serde_json::Map::new();
            for (key, value) in &self.entries {
                if let Some(value) = value.clone().into_value() {
                    object.insert(key.clone().into_owned(), value);
                }
            }
            object
        })
    }

    /// Whether there are no extras.
    pub fn is_empty(&self) -> bool {
        // (An entry may still read as absent: text nested deeper than serde_json reads.)
        (self.object.get().is_none() && self.entries.is_empty()) || self.as_map().is_empty()
    }
}

impl Extra {
    /// The value as JSON; `None` for text that does not parse as a value (deeper than
    /// serde_json's nesting limit), which then reads as absent.
    fn into_value(self) -> Option<serde_json::Value> {
        match self {
            Extra::Value(value) => Some(value),
            Extra::Json(json) => serde_json::from_str(json.get()).ok(),
        }
    }
}

impl Clone for ProviderExtras {
    fn clone(&self) -> Self {
        match self.object.get() {
            // Once read, the object is the extras: the entries it was made from are not copied.
            Some(object) => Self {
                entries: Vec::new(),
                object: OnceLock::from(object.clone()),
            },
            None => Self {
                entries: self.entries.clone(),
                object: OnceLock::new(),
            },
        }
    }
}

impl PartialEq for ProviderExtras {
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

impl Serialize for ProviderExtras {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ProviderExtras {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::deserialize(deserializer)?;
        Ok(Self {
            entries: Vec::new(),
            object: OnceLock::from(object),
        })
    }
}

impl fmt::Debug for ProviderExtras {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_map().keys()).finish()
    }
}

/// The longest lifetime an `expires_in` is taken for: ten years. A provider answer claiming more
/// is clamped to it (and logged), so that a mistaken or hostile value cannot make a token look
/// valid forever.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The absolute expiry of a token received at `issued_at` with a relative `expires_in` (seconds).
///
/// A negative or zero `expires_in` means already expired (`issued_at`: the next use refreshes);
/// one above [`MAX_EXPIRES_IN`] is clamped to it. Both are logged as warnings, without the token.
pub fn expiry_from(issued_at: SystemTime, expires_in_secs: i64) -> Option<SystemTime> {
    let lifetime = match u64::try_from(expires_in_secs) {
        Ok(0) | Err(_) => {
            tracing::warn!(
                expires_in = expires_in_secs,
                "the provider gave a token no lifetime: taken as already expired"
            );
            Duration::ZERO
        }
        Ok(secs) if Duration::from_secs(secs) > MAX_EXPIRES_IN => {
            tracing::warn!(
                expires_in = expires_in_secs,
                "the provider gave a token more than ten years: clamped to ten years"
            );
            MAX_EXPIRES_IN
        }
        Ok(secs) => Duration::from_secs(secs),
    };
    issued_at.checked_add(lifetime).or(Some(issued_at))
}

/// The tokens of one grant, as every provider returns them.
///
/// Times are absolute: `expires_at` is computed from the provider's relative `expires_in` at the
/// moment the response was received ([`expiry_from`]).
///
/// `TokenSet` does not implement `Serialize`: use [`ExposeSecrets`] to store one.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use oauth_core::{AccessToken, ProviderId, TokenSet, TokenType};
///
/// let now = SystemTime::now();
/// let tokens = TokenSet::builder(ProviderId::from_static("slack"), AccessToken::new("xoxe.xoxb-1-abc"))
///     .token_type(TokenType::Bot)
///     .issued_at(now)
///     .expires_in(43_200)
///     .build();
/// assert!(!tokens.is_expired(now));
/// assert!(tokens.expires_within(Duration::from_secs(12 * 3600), now));
/// assert!(!format!("{tokens:?}").contains("xoxe.xoxb-1-abc"));
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct TokenSet {
    /// The provider that issued the tokens.
    pub provider: ProviderId,
    /// The access token.
    pub access_token: AccessToken,
    /// Its type.
    pub token_type: TokenType,
    /// The refresh token, if the grant has one. Single-use at Slack.
    pub refresh_token: Option<RefreshToken>,
    /// When the response carrying these tokens was received.
    pub issued_at: SystemTime,
    /// When the access token expires; `None` if it does not (or the provider does not say).
    pub expires_at: Option<SystemTime>,
    /// When the refresh token expires, where the provider documents it.
    #[serde(default)]
    pub refresh_token_expires_at: Option<SystemTime>,
    /// The scopes granted.
    #[serde(default)]
    pub scopes: Scopes,
    /// Who the tokens were granted to.
    #[serde(default)]
    pub grantee: Grantee,
    /// Provider-specific fields (no secrets), with typed views in the provider crates.
    #[serde(default)]
    pub extras: ProviderExtras,
}

impl TokenSet {
    /// Starts a token set from the only two parts every grant has: the issuing provider and the
    /// access token. Everything else has a default ([`TokenSetBuilder`]); the fields stay public
    /// for reading and for decoders that fill them one by one.
    pub fn builder(provider: ProviderId, access_token: AccessToken) -> TokenSetBuilder {
        TokenSetBuilder {
            tokens: Self {
                provider,
                access_token,
                token_type: TokenType::Bearer,
                refresh_token: None,
                issued_at: SystemTime::now(),
                expires_at: None,
                refresh_token_expires_at: None,
                scopes: Scopes::new(),
                grantee: Grantee::default(),
                extras: ProviderExtras::default(),
            },
            expires_in: None,
        }
    }

    /// Sets `expires_at` from a relative `expires_in` in seconds, counted from `issued_at`.
    pub fn set_expires_in(&mut self, expires_in_secs: i64) {
        self.expires_at = expiry_from(self.issued_at, expires_in_secs);
    }

    /// Whether the access token has expired at `now`. A token without expiry never expires.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Whether the access token expires within `margin` of `now` (or already has).
    pub fn expires_within(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires_at
            .is_some_and(|at| now.checked_add(margin).is_none_or(|limit| limit >= at))
    }

    /// Time left before expiry at `now`: `None` without expiry, zero once expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

impl Serialize for ExposeSecrets<'_, TokenSet> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Stored<'a> {
            provider: &'a ProviderId,
            access_token: ExposeSecrets<'a, AccessToken>,
            token_type: &'a TokenType,
            refresh_token: ExposeSecrets<'a, Option<RefreshToken>>,
            issued_at: SystemTime,
            expires_at: Option<SystemTime>,
            refresh_token_expires_at: Option<SystemTime>,
            scopes: &'a Scopes,
            grantee: &'a Grantee,
            extras: &'a ProviderExtras,
        }
        let t = self.0;
        Stored {
            provider: &t.provider,
            access_token: ExposeSecrets(&t.access_token),
            token_type: &t.token_type,
            refresh_token: ExposeSecrets(&t.refresh_token),
            issued_at: t.issued_at,
            expires_at: t.expires_at,
            refresh_token_expires_at: t.refresh_token_expires_at,
            scopes: &t.scopes,
            grantee: &t.grantee,
            extras: &t.extras,
        }
        .serialize(serializer)
    }
}

/// The result of introspecting a token, in the spirit of RFC 7662.
///
/// An invalid, revoked or expired token is `active: false`, not an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenInfo {
    /// Whether the token is currently usable.
    pub active: bool,
    /// Scopes of the token, where the provider reports them.
    pub scopes: Scopes,
    /// When the token was issued, where reported.
    pub issued_at: Option<SystemTime>,
    /// When the token expires, where reported.
    pub expires_at: Option<SystemTime>,
    /// Who the token was granted to, where reported (the same [`Grantee`] as [`TokenSet::grantee`]).
    pub grantee: Grantee,
    /// The client (app) the token was issued to, where reported.
    pub client_id: Option<String>,
    /// The token's type, where reported.
    pub token_type: Option<TokenType>,
    /// Why the token is inactive, in the provider's words (e.g. Slack `token_revoked`).
    pub inactive_reason: Option<String>,
    /// Provider-specific fields.
    pub extras: ProviderExtras,
}

impl TokenInfo {
    /// An active token with nothing else known yet.
    pub fn active() -> Self {
        Self {
            active: true,
            scopes: Scopes::new(),
            issued_at: None,
            expires_at: None,
            grantee: Grantee::default(),
            client_id: None,
            token_type: None,
            inactive_reason: None,
            extras: ProviderExtras::default(),
        }
    }

    /// An inactive token, with the provider's reason if it gave one.
    pub fn inactive(reason: Option<String>) -> Self {
        Self {
            active: false,
            inactive_reason: reason,
            ..Self::active()
        }
    }
}
