//! Consent directives: what the next authorization's consent screen answers (deny, or which
//! team, user and, for Slack, which Enterprise Grid organization and install kind).

use serde::{Deserialize, Serialize};

/// A Slack workspace (or Notion workspace) as listed by `auth.teams.list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamInfo {
    /// Team id (`T…`) or Notion workspace id.
    pub id: String,
    /// Team name.
    pub name: String,
}

impl TeamInfo {
    /// A team with this id and name.
    pub fn new(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }

    /// A team with the sandbox's default name for it (`Sandbox team <id>`).
    pub(crate) fn named_by_default(id: &str) -> Self {
        Self::new(id, default_team_name(id))
    }
}

/// The name a team gets when a consent names only its id.
pub(crate) fn default_team_name(id: &str) -> String {
    format!("Sandbox team {id}")
}

/// A Slack Enterprise Grid organization (`E…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnterpriseInfo {
    /// Enterprise id (`E…`).
    pub id: String,
    /// Enterprise name.
    pub name: String,
}

/// The outcome of the next authorization (consent screen). Queued with
/// [`crate::Control::push_consent`]; each authorize request consumes the first queued consent that
/// applies to its client id, and without one consent is automatic with the default identity.
///
/// Slack install kinds:
///
/// | Consent | `oauth.v2.access` answers |
/// | --- | --- |
/// | [`Consent::approve`] (or none) | `team {id,name}`, `enterprise: null`, `is_enterprise_install: false` |
/// | [`Consent::approve`]`(…).`[`in_enterprise`](Consent::in_enterprise)`(…)` | `team {id,name}`, `enterprise {id,name}`, `is_enterprise_install: false` (a workspace install inside a Grid org) |
/// | [`Consent::org_wide`] | `team: null`, `enterprise {id,name}`, `is_enterprise_install: true` (an org-wide install; the tokens serve every listed workspace) |
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// Deny: the redirect carries `error=access_denied`.
    #[serde(default)]
    pub deny: bool,
    /// Team id (Slack `T…`) or Notion workspace id. For an org-wide install: the workspace the
    /// installing admin is in (seen only by Sign in with Slack and the v1 flow).
    #[serde(default)]
    pub team_id: Option<String>,
    /// Team or workspace name.
    #[serde(default)]
    pub team_name: Option<String>,
    /// User id (Slack `U…`, Notion UUID).
    #[serde(default)]
    pub user_id: Option<String>,
    /// User display name.
    #[serde(default)]
    pub user_name: Option<String>,
    /// User e-mail.
    #[serde(default)]
    pub user_email: Option<String>,
    /// Slack enterprise id (`E…`), for Grid installs.
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// Slack enterprise name.
    #[serde(default)]
    pub enterprise_name: Option<String>,
    /// Slack: an org-wide install of the enterprise (`is_enterprise_install: true`,
    /// `team: null`). Without `enterprise_id` the enterprise is `E0SANDBOX1` "Sandbox
    /// Enterprise".
    #[serde(default)]
    pub is_enterprise_install: bool,
    /// Teams reachable by the grant (Slack `auth.teams.list`). For a workspace install, empty
    /// means only `team_id`; for an org-wide install, the workspaces the admin added the app to
    /// (empty: none yet).
    #[serde(default)]
    pub teams: Vec<TeamInfo>,
    /// Only the next authorization of this client id consumes it (`None`: any app's).
    #[serde(default)]
    pub client_id: Option<String>,
}

impl Consent {
    /// A consent that the user denies.
    pub fn deny() -> Self {
        Self {
            deny: true,
            ..Self::default()
        }
    }

    /// Restricts the consent to one app's next authorization.
    #[must_use]
    pub fn for_client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// An approving consent that picks a team/workspace and a user.
    pub fn approve(
        team_id: impl Into<String>,
        team_name: impl Into<String>,
        user_id: impl Into<String>,
    ) -> Self {
        Self {
            team_id: Some(team_id.into()),
            team_name: Some(team_name.into()),
            user_id: Some(user_id.into()),
            ..Self::default()
        }
    }

    /// Slack: places the workspace in an Enterprise Grid organization, for a workspace install
    /// inside it (`team` and `enterprise` both set, `is_enterprise_install: false`).
    #[must_use]
    pub fn in_enterprise(
        mut self,
        enterprise_id: impl Into<String>,
        enterprise_name: impl Into<String>,
    ) -> Self {
        self.enterprise_id = Some(enterprise_id.into());
        self.enterprise_name = Some(enterprise_name.into());
        self
    }

    /// Slack: an org-wide install of the enterprise by the admin `user_id`, the app added to the
    /// workspaces `workspaces` (team ids; each named `Sandbox team <id>`; set
    /// [`teams`](Self::teams) for other names). `oauth.v2.access` answers `team: null`,
    /// `enterprise {id,name}`, `is_enterprise_install: true`.
    pub fn org_wide(
        enterprise_id: impl Into<String>,
        enterprise_name: impl Into<String>,
        user_id: impl Into<String>,
        workspaces: &[&str],
    ) -> Self {
        Self {
            user_id: Some(user_id.into()),
            enterprise_id: Some(enterprise_id.into()),
            enterprise_name: Some(enterprise_name.into()),
            is_enterprise_install: true,
            teams: workspaces
                .iter()
                .map(|id| TeamInfo::named_by_default(id))
                .collect(),
            ..Self::default()
        }
    }
}
