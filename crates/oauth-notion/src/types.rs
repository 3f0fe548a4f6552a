//! Notion's OAuth request and response bodies, every documented field typed.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use oauth_core::{AccessToken, ProviderExtras, RefreshToken, TokenSet};

/// The body of a successful `POST /v1/oauth/token` (both grants).
///
/// Decoding is lenient the way real bodies require: `token_type`, `refresh_token` and `request_id`
/// may be missing or `null`, and `owner` may be the legacy `{"workspace": true}`. An `owner`
/// nested deeper than serde_json builds a tree (128 levels) leaves `owner` unset rather than
/// failing the grant (a user owner is read whatever its other members hold).
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// `"bearer"` (absent in old responses).
    #[serde(default)]
    pub token_type: Option<String>,
    /// The refresh token; `null` or absent for connections that have none.
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// The id of this authorization (Notion recommends it as the primary key).
    #[serde(default)]
    pub bot_id: Option<String>,
    /// The workspace id.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The workspace name.
    #[serde(default)]
    pub workspace_name: Option<String>,
    /// The workspace icon: a URL, or an emoji.
    #[serde(default)]
    pub workspace_icon: Option<String>,
    /// Who authorized.
    #[serde(default, deserialize_with = "owner_if_readable")]
    pub owner: Option<Owner>,
    /// `expires_in` (seconds). Notion sends none today; when present it is honoured (and
    /// clamped, see [`oauth_core::expiry_from`]).
    #[serde(default)]
    pub expires_in: Option<i64>,
    /// The page duplicated from the integration's template, if any.
    #[serde(default)]
    pub duplicated_template_id: Option<String>,
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Reads `owner` as its text first (which has no nesting limit), then types it: an owner too deep
/// for a tree reads as absent, so that the grant and its tokens are not lost.
fn owner_if_readable<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Owner>, D::Error> {
    let text = Option::<Box<RawValue>>::deserialize(deserializer)?;
    Ok(text.and_then(|text| Owner::from_text(&text)))
}

/// Who authorized the integration.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Owner {
    /// A user (`{"type":"user","user":{…}}`).
    User {
        /// The user.
        user: NotionUser,
    },
    /// The whole workspace (legacy `{"type":"workspace","workspace":true}` or `{"workspace":true}`).
    Workspace,
    /// A shape this crate does not know, kept as received.
    Other {
        /// The raw owner object.
        raw: serde_json::Value,
    },
}

impl Owner {
    /// Reads an owner object leniently: a `user` object that reads as a [`NotionUser`] makes a
    /// user owner, `"type": "workspace"` or `"workspace": true` the workspace, anything else is
    /// kept as [`Owner::Other`].
    pub fn from_json(raw: &serde_json::Value) -> Owner {
        if let Some(user) = raw.get("user").filter(|u| u.is_object())
            && let Ok(user) = NotionUser::deserialize(user)
        {
            return Owner::User { user };
        }
        let is_workspace = raw.get("type").and_then(|t| t.as_str()) == Some("workspace")
            || raw.get("workspace").and_then(|w| w.as_bool()) == Some(true);
        if is_workspace {
            Owner::Workspace
        } else {
            Owner::Other { raw: raw.clone() }
        }
    }

    /// Reads an owner object from its JSON text as [`from_json`](Self::from_json) reads its tree:
    /// the usual shapes (a user, the workspace) straight from the text, any other through a tree.
    /// `None` for text nested deeper than serde_json builds a tree.
    fn from_text(text: &RawValue) -> Option<Owner> {
        /// The top level of an owner object, its members left as text.
        #[derive(Deserialize)]
        struct Members<'a> {
            #[serde(default, rename = "type")]
            kind: Option<&'a str>,
            #[serde(default, borrow)]
            user: Option<&'a RawValue>,
            #[serde(default, borrow)]
            workspace: Option<&'a RawValue>,
        }
        // (An odd shape: not an object, escaped or repeated keys, a user that is not a
        // `NotionUser`; the tree decides.)
        let members = text
            .get()
            .starts_with('{')
            .then(|| serde_json::from_str::<Members<'_>>(text.get()).ok())
            .flatten();
        if let Some(members) = members {
            match members.user.filter(|user| user.get().starts_with('{')) {
                Some(user) => {
                    if let Ok(user) = serde_json::from_str::<NotionUser>(user.get()) {
                        return Some(Owner::User { user });
                    }
                }
                None if members.kind == Some("workspace")
                    || members.workspace.map(RawValue::get) == Some("true") =>
                {
                    return Some(Owner::Workspace);
                }
                None => {}
            }
        }
        serde_json::from_str::<serde_json::Value>(text.get())
            .ok()
            .map(|tree| Owner::from_json(&tree))
    }

    /// The user, if a user owns the authorization.
    pub fn user(&self) -> Option<&NotionUser> {
        match self {
            Owner::User { user } => Some(user),
            _ => None,
        }
    }
}

/// Serialized in Notion's own shape, so that it reads back the same.
impl Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Owner::User { user } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "user")?;
                map.serialize_entry("user", user)?;
                map.end()
            }
            Owner::Workspace => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "workspace")?;
                map.serialize_entry("workspace", &true)?;
                map.end()
            }
            Owner::Other { raw } => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Owner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(Owner::from_json(&raw))
    }
}

/// A Notion user: a full person or a partial user (`{object, id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotionUser {
    /// `"user"`.
    #[serde(default)]
    pub object: Option<String>,
    /// The user id.
    #[serde(default)]
    pub id: Option<String>,
    /// `"person"` or `"bot"`.
    #[serde(default, rename = "type")]
    pub user_type: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Person details.
    #[serde(default)]
    pub person: Option<Person>,
}

/// A person's details.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Person {
    /// The e-mail address.
    #[serde(default)]
    pub email: Option<String>,
}

/// The body of a successful `POST /v1/oauth/introspect`.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct IntrospectResponse {
    /// Whether the token is active.
    pub active: bool,
    /// The token's scopes (space-separated), if reported.
    #[serde(default)]
    pub scope: Option<String>,
    /// Issued-at, Unix seconds, if reported.
    #[serde(default)]
    pub iat: Option<i64>,
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The body of a successful `POST /v1/oauth/revoke` (`{}` or `{"request_id":…}`).
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct RevokeResponse {
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The `external_account` of a Link Preview integration's code exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAccount {
    /// Identifies the account in the external system (re-connect detection).
    pub key: String,
    /// Its display name.
    pub name: String,
}

/// The Notion-specific fields this crate keeps in [`TokenSet::extras`] (never a secret), typed.
///
/// ```
/// use oauth_notion::NotionExtras;
/// # fn show(tokens: &oauth_core::TokenSet) {
/// let extras = NotionExtras::from_token_set(tokens);
/// println!("workspace icon {:?}, owner {:?}", extras.workspace_icon, extras.owner);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NotionExtras {
    /// The workspace icon.
    #[serde(default)]
    pub workspace_icon: Option<String>,
    /// Who authorized.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The duplicated template page.
    #[serde(default)]
    pub duplicated_template_id: Option<String>,
    /// Notion's request id of the grant.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl NotionExtras {
    /// Reads the extras of a token set made by this crate.
    pub fn from_token_set(tokens: &TokenSet) -> Self {
        Self::from_extras(&tokens.extras)
    }

    /// Reads Notion extras from a [`ProviderExtras`].
    pub fn from_extras(extras: &ProviderExtras) -> Self {
        Self {
            workspace_icon: extras.get_as("workspace_icon"),
            owner: extras
                .get("owner")
                .and_then(|raw| Owner::deserialize(raw).ok()),
            duplicated_template_id: extras.get_as("duplicated_template_id"),
            request_id: extras.get_as("request_id"),
        }
    }
}
