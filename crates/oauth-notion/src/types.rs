//! Notion's OAuth request and response bodies, every documented field typed.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use oauth_core::{AccessToken, RefreshToken};

/// The body of a successful `POST /v1/oauth/token` (both grants).
///
/// Decoding is lenient the way real bodies require: `token_type`, `refresh_token` and `request_id`
/// may be missing or `null`, and `owner` may be the legacy `{"workspace": true}`. An `owner`
/// nested deeper than serde_json builds a tree (128 levels) leaves `owner` unset rather than
/// failing the grant.
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "WireTokenResponse")]
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
    #[serde(default)]
    pub owner: Option<Owner>,
    /// The page duplicated from the integration's template, if any.
    #[serde(default)]
    pub duplicated_template_id: Option<String>,
    /// Notion's request id.
    #[serde(default)]
    pub request_id: Option<String>,
    /// `owner` as received, kept for the token set's extras (which hold JSON) so that it is not
    /// rebuilt from [`Owner`].
    owner_json: Option<OwnerJson>,
}

/// The `owner` object as received: as a tree (read to type it), or as its text (a response made
/// into a token set at once, whose extras parse it only if read).
#[derive(Clone, Debug)]
pub(crate) enum OwnerJson {
    Tree(serde_json::Value),
    Text(Box<RawValue>),
}

impl TokenResponse {
    /// The `owner` object as received, taken out (`None` once taken or if there was none).
    pub(crate) fn take_owner_json(&mut self) -> Option<OwnerJson> {
        self.owner_json.take()
    }
}

/// A [`TokenResponse`] read to become a token set at once: the owner is kept as its text (the
/// token set keeps it as JSON), neither typed nor made a tree.
#[derive(Deserialize)]
#[serde(from = "WireTokenResponse")]
pub(crate) struct TokenResponseForSet(pub(crate) TokenResponse);

impl From<WireTokenResponse> for TokenResponseForSet {
    fn from(wire: WireTokenResponse) -> Self {
        TokenResponseForSet(wire.into_response(|owner| (None, owner.map(OwnerJson::Text))))
    }
}

/// [`TokenResponse`] as it is read: `owner` as its text (`"owner": null` reads as no owner).
#[derive(Deserialize)]
struct WireTokenResponse {
    access_token: AccessToken,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    workspace_name: Option<String>,
    #[serde(default)]
    workspace_icon: Option<String>,
    #[serde(default)]
    owner: Option<Box<RawValue>>,
    #[serde(default)]
    duplicated_template_id: Option<String>,
    #[serde(default)]
    request_id: Option<String>,
}

impl From<WireTokenResponse> for TokenResponse {
    fn from(wire: WireTokenResponse) -> Self {
        wire.into_response(|owner| {
            let Some(text) = owner else {
                return (None, None);
            };
            match serde_json::from_str::<serde_json::Value>(text.get()) {
                Ok(tree) => (Some(Owner::from_json(&tree)), Some(OwnerJson::Tree(tree))),
                // Nested deeper than a JSON tree may be (serde_json's limit): no typed owner,
                // rather than failing the grant and losing the tokens it carries. The text is
                // kept as the token grants keep it (the extras read it as absent).
                Err(_) => (None, Some(OwnerJson::Text(text))),
            }
        })
    }
}

impl WireTokenResponse {
    /// The response, its typed owner and kept JSON made by `owner` from the owner's text.
    fn into_response(
        self,
        owner: impl FnOnce(Option<Box<RawValue>>) -> (Option<Owner>, Option<OwnerJson>),
    ) -> TokenResponse {
        let wire = self;
        let (owner, owner_json) = owner(wire.owner);
        TokenResponse {
            access_token: wire.access_token,
            token_type: wire.token_type,
            refresh_token: wire.refresh_token,
            bot_id: wire.bot_id,
            workspace_id: wire.workspace_id,
            workspace_name: wire.workspace_name,
            workspace_icon: wire.workspace_icon,
            owner,
            duplicated_template_id: wire.duplicated_template_id,
            request_id: wire.request_id,
            owner_json,
        }
    }
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

/// The Notion-specific fields of a [`TokenSet`](oauth_core::TokenSet), read back from its extras
/// with [`NotionExtras::of`].
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
    /// Reads the Notion fields of a token set produced by this crate.
    pub fn of(tokens: &oauth_core::TokenSet) -> Self {
        let extras = &tokens.extras;
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
