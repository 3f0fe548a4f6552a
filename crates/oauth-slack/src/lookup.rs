//! From a request Slack sent (an event, an interaction, a slash command) to the token sets that
//! serve it, as Bolt's `authorize` finds them: [`SlackContext`].
//!
//! | `is_enterprise_install` | enterprise | team | installations tried, in order |
//! | --- | --- | --- | --- |
//! | true | `E` | any | `E/*` (the org-wide install serves every workspace of the org) |
//! | false | `E` | `T` | `E/T`, then `E/*` (a workspace of an org where the app is installed org-wide) |
//! | false | none | `T` | `T` |
//! | false | `E` | none | `E/*` |
//! | true | none | `T` | `T` (an org-wide install names its enterprise; without one, the workspace) |
//! | any | none | none | none: the request names no installation |
//!
//! The bot token is the first installation's (in that order) that holds a bot token set; the user
//! token is the first that holds `user_id`'s token set (that user authorized the app's user
//! scopes there). A user token is never taken from another user.

use oauth_core::{InstallationKey, Principal, TokenKey};
use serde::Deserialize;

use crate::PROVIDER;

/// Where a request from Slack comes from: an event's `authorizations[0]` (or its envelope's
/// `enterprise_id`/`team_id`), an interactivity payload's `enterprise`, `team`, `user` and
/// `is_enterprise_install`, a slash command's `enterprise_id`, `team_id`, `user_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SlackContext {
    /// The Enterprise Grid organisation, if any.
    #[serde(default)]
    pub enterprise_id: Option<String>,
    /// The workspace, if any (org-wide requests may have none).
    #[serde(default)]
    pub team_id: Option<String>,
    /// The user who acted, if any.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Whether the app is installed org-wide.
    #[serde(default)]
    pub is_enterprise_install: bool,
}

impl SlackContext {
    /// A context from its parts (empty strings count as absent).
    pub fn new(
        enterprise_id: Option<&str>,
        team_id: Option<&str>,
        user_id: Option<&str>,
        is_enterprise_install: bool,
    ) -> Self {
        let owned = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_owned);
        Self {
            enterprise_id: owned(enterprise_id),
            team_id: owned(team_id),
            user_id: owned(user_id),
            is_enterprise_install,
        }
    }

    /// The installations that may serve the request, in the order they are tried (the table in
    /// the module docs).
    pub fn installations(&self) -> Vec<InstallationKey> {
        let enterprise = self.enterprise_id.as_deref().filter(|e| !e.is_empty());
        let team = self.team_id.as_deref().filter(|t| !t.is_empty());
        match (self.is_enterprise_install, enterprise, team) {
            (true, Some(enterprise), _) | (false, Some(enterprise), None) => {
                vec![InstallationKey::organization(PROVIDER, enterprise)]
            }
            (false, Some(enterprise), Some(team)) => vec![
                InstallationKey::workspace(PROVIDER, Some(enterprise), team),
                InstallationKey::organization(PROVIDER, enterprise),
            ],
            (_, None, Some(team)) => vec![InstallationKey::workspace(PROVIDER, None, team)],
            (_, None, None) => Vec::new(),
        }
    }

    /// The bot token sets that may serve the request, in order.
    pub fn bot_candidates(&self) -> Vec<TokenKey> {
        self.installations()
            .into_iter()
            .map(TokenKey::bot)
            .collect()
    }

    /// The token sets of [`user_id`](Self::user_id) that may serve the request, in order (none
    /// without a user).
    pub fn user_candidates(&self) -> Vec<TokenKey> {
        let Some(user) = self.user_id.as_deref().filter(|u| !u.is_empty()) else {
            return Vec::new();
        };
        self.installations()
            .into_iter()
            .map(|installation| TokenKey::new(installation, Principal::User(user.to_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(keys: Vec<InstallationKey>) -> Vec<String> {
        keys.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_row_of_the_lookup_table() {
        // (enterprise, team, is_enterprise_install, installations tried)
        type Row = (
            Option<&'static str>,
            Option<&'static str>,
            bool,
            &'static [&'static str],
        );
        let rows: [Row; 8] = [
            (Some("E1"), Some("T1"), true, &["slack/E1/*"]),
            (Some("E1"), None, true, &["slack/E1/*"]),
            (
                Some("E1"),
                Some("T1"),
                false,
                &["slack/E1/T1", "slack/E1/*"],
            ),
            (None, Some("T1"), false, &["slack/T1"]),
            (Some("E1"), None, false, &["slack/E1/*"]),
            (None, Some("T1"), true, &["slack/T1"]),
            (None, None, false, &[]),
            (Some(""), Some("T1"), false, &["slack/T1"]),
        ];
        for (enterprise, team, org, expected) in rows {
            let context = SlackContext::new(enterprise, team, Some("U1"), org);
            assert_eq!(
                texts(context.installations()),
                expected.to_vec(),
                "{enterprise:?} {team:?} {org}"
            );
            let bots: Vec<String> = context
                .bot_candidates()
                .iter()
                .map(ToString::to_string)
                .collect();
            let users: Vec<String> = context
                .user_candidates()
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(
                bots,
                expected
                    .iter()
                    .map(|k| format!("{k}#bot"))
                    .collect::<Vec<_>>()
            );
            assert_eq!(
                users,
                expected
                    .iter()
                    .map(|k| format!("{k}#user:U1"))
                    .collect::<Vec<_>>()
            );
        }
        assert!(
            SlackContext::new(None, Some("T1"), None, false)
                .user_candidates()
                .is_empty(),
            "no user, no user token"
        );
    }

    #[test]
    fn an_events_authorization_reads_as_a_context() {
        let authorization: SlackContext = serde_json::from_str(
            r#"{"enterprise_id":"E1","team_id":"T1","user_id":"U1","is_bot":true,"is_enterprise_install":false}"#,
        )
        .unwrap_or_default();
        assert_eq!(
            authorization,
            SlackContext::new(Some("E1"), Some("T1"), Some("U1"), false)
        );
    }
}
