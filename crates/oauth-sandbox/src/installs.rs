//! Slack installations: one per (app, team) for workspace installs and per (app, enterprise)
//! for org-wide installs. An installation keeps its bot user and bot id across reinstalls, and
//! remembers who authorized the app; [`crate::Control::installations`] reads them.

use serde::{Deserialize, Serialize};

use crate::consent::{EnterpriseInfo, TeamInfo};
use crate::state::{Identity, Inner};

/// A Slack installation as the sandbox holds it (no token, no secret), read with
/// [`crate::Control::installations`] (`GET /_sandbox/installations`).
///
/// One exists per (app, team) for workspace installs (`team` set; `enterprise` set too when the
/// workspace is in a Grid org) and per (app, enterprise) for org-wide installs (`team` `None`,
/// `is_enterprise_install`). It is made by the first code exchange of an install flow
/// (`oauth.v2.access`, `oauth.v2.user.access`, `oauth.access`) and updated by every later one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SlackInstallation {
    /// The app's client id.
    pub client_id: String,
    /// The app's id (`A…`).
    pub app_id: String,
    /// The workspace; `None` for an org-wide install.
    pub team: Option<TeamInfo>,
    /// The Enterprise Grid organization, if any.
    pub enterprise: Option<EnterpriseInfo>,
    /// Whether it is an org-wide install.
    pub is_enterprise_install: bool,
    /// The bot user (`U…`), stable across reinstalls; `None` until an install with bot scopes.
    pub bot_user_id: Option<String>,
    /// The bot id (`B…`) as `auth.test` shows it, stable across reinstalls.
    pub bot_id: Option<String>,
    /// The bot scopes of the latest install with bot scopes.
    pub bot_scopes: Vec<String>,
    /// Every user who authorized the app here, first authorization first (no repeats).
    pub installer_user_ids: Vec<String>,
    /// The user of the latest authorization.
    pub latest_installer_user_id: String,
    /// Org-wide installs: the workspaces the app was added to (latest install's list).
    pub workspaces: Vec<TeamInfo>,
    /// Sandbox clock (Unix seconds) of the first exchange.
    pub installed_at: i64,
    /// Sandbox clock (Unix seconds) of the latest exchange.
    pub updated_at: i64,
}

/// The installation record held in the state.
#[derive(Debug, Clone)]
pub(crate) struct InstallRec {
    pub(crate) client_id: String,
    /// `T…` for a workspace install, `E…` for an org-wide one.
    pub(crate) key: String,
    pub(crate) team: Option<TeamInfo>,
    pub(crate) enterprise: Option<EnterpriseInfo>,
    pub(crate) org_wide: bool,
    /// (bot user id, bot id).
    pub(crate) bot: Option<(String, String)>,
    pub(crate) bot_scopes: Vec<String>,
    pub(crate) installers: Vec<String>,
    pub(crate) latest_installer: String,
    pub(crate) workspaces: Vec<TeamInfo>,
    pub(crate) installed_at: i64,
    pub(crate) updated_at: i64,
}

/// The installation key of an identity: the team for a workspace install, the enterprise for an
/// org-wide one.
pub(crate) fn key_of(identity: &Identity) -> &str {
    match (&identity.enterprise, identity.org_wide) {
        (Some((enterprise, _)), true) => enterprise,
        _ => &identity.team_id,
    }
}

impl Inner {
    pub(crate) fn install_index(&self, client_id: &str, key: &str) -> Option<usize> {
        self.installs
            .iter()
            .position(|i| i.client_id == client_id && i.key == key)
    }

    /// The bot user id and bot id of the app's installation for `identity`, made on first use
    /// (nothing is recorded: [`Inner::record_install`] does that once tokens are issued).
    pub(crate) fn bot_identity(
        &mut self,
        client_id: &str,
        identity: &Identity,
    ) -> (String, String) {
        let existing = self
            .install_index(client_id, key_of(identity))
            .and_then(|i| self.installs.get(i))
            .and_then(|i| i.bot.clone());
        existing.unwrap_or_else(|| (self.slack_id('U'), self.slack_id('B')))
    }

    /// Whether a workspace install of `identity` is refused because the app is installed
    /// org-wide in the workspace's enterprise (`cannot_install_an_org_installed_app`).
    pub(crate) fn org_installed_conflict(&self, client_id: &str, identity: &Identity) -> bool {
        match (&identity.enterprise, identity.org_wide) {
            (Some((enterprise, _)), false) => self
                .install_index(client_id, enterprise)
                .and_then(|i| self.installs.get(i))
                .is_some_and(|i| i.org_wide),
            _ => false,
        }
    }

    /// Records an authorization of `client_id` for `identity`: `bot` is the bot user, bot id and
    /// scopes when the install had bot scopes.
    pub(crate) fn record_install(
        &mut self,
        client_id: &str,
        identity: &Identity,
        bot: Option<(String, String, Vec<String>)>,
    ) {
        let now = self.now();
        let key = key_of(identity).to_owned();
        let index = match self.install_index(client_id, &key) {
            Some(i) => i,
            None => {
                self.installs.push(InstallRec {
                    client_id: client_id.to_owned(),
                    key,
                    team: (!identity.org_wide)
                        .then(|| TeamInfo::new(&identity.team_id, &identity.team_name)),
                    enterprise: None,
                    org_wide: identity.org_wide,
                    bot: None,
                    bot_scopes: Vec::new(),
                    installers: Vec::new(),
                    latest_installer: String::new(),
                    workspaces: Vec::new(),
                    installed_at: now,
                    updated_at: now,
                });
                self.installs.len() - 1
            }
        };
        let Some(rec) = self.installs.get_mut(index) else {
            return;
        };
        rec.updated_at = now;
        if !identity.org_wide {
            rec.team = Some(TeamInfo::new(&identity.team_id, &identity.team_name));
        }
        rec.enterprise = identity
            .enterprise
            .as_ref()
            .map(|(id, name)| EnterpriseInfo {
                id: id.clone(),
                name: name.clone(),
            });
        if identity.org_wide {
            rec.workspaces.clone_from(&identity.teams);
        }
        if let Some((user, bot_id, scopes)) = bot {
            rec.bot = Some((user, bot_id));
            rec.bot_scopes = scopes;
        }
        if !rec.installers.contains(&identity.user_id) {
            rec.installers.push(identity.user_id.clone());
        }
        rec.latest_installer.clone_from(&identity.user_id);
    }

    /// The installations, in the order they were made.
    pub(crate) fn installations(&self) -> Vec<SlackInstallation> {
        self.installs
            .iter()
            .map(|rec| SlackInstallation {
                client_id: rec.client_id.clone(),
                app_id: self
                    .apps
                    .get(&rec.client_id)
                    .map(|a| a.app_id.clone())
                    .unwrap_or_default(),
                team: rec.team.clone(),
                enterprise: rec.enterprise.clone(),
                is_enterprise_install: rec.org_wide,
                bot_user_id: rec.bot.as_ref().map(|b| b.0.clone()),
                bot_id: rec.bot.as_ref().map(|b| b.1.clone()),
                bot_scopes: rec.bot_scopes.clone(),
                installer_user_ids: rec.installers.clone(),
                latest_installer_user_id: rec.latest_installer.clone(),
                workspaces: rec.workspaces.clone(),
                installed_at: rec.installed_at,
                updated_at: rec.updated_at,
            })
            .collect()
    }
}
