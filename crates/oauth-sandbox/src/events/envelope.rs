//! The events the state produces, built as Slack builds them: `tokens_revoked` when tokens of
//! an installation are revoked (`auth.revoke`, [`Control::revoke_user_tokens`](crate::Control::revoke_user_tokens),
//! [`Control::revoke_bot_token`](crate::Control::revoke_bot_token)) and `tokens_revoked` then
//! `app_uninstalled` when the app is uninstalled ([`Control::uninstall`](crate::Control::uninstall)).
//!
//! The envelope (Slack's `event_callback`): `token` (the deprecated verification token, a fixed
//! value here), `team_id` (absent for an org-wide install, as in Bolt's org-app tests),
//! `enterprise_id` (only in an Enterprise Grid org), `api_app_id`, `event`, `type`,
//! `event_id` (`Ev…`), `event_time` (sandbox clock), `authorizations` (one: the installation's
//! bot user, or its latest installer when it has no bot; `is_enterprise_install` for org-wide
//! installs, with `team_id: null`), `is_ext_shared_channel: false`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::control::ControlError;
use crate::installs::{InstallRec, key_of};
use crate::state::{GrantKind, Inner};

use super::PendingEvent;

/// The deprecated verification token of every envelope (apps verify the signature instead).
pub(crate) const VERIFICATION_TOKEN: &str = "Vt0SANDBOXdeprecatedVerificationToken";

/// What a revocation or an uninstall ended, and the events it sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Revocation {
    /// Users whose user tokens were revoked (`tokens_revoked`'s `tokens.oauth`).
    pub oauth: Vec<String>,
    /// Bot users whose bot tokens were revoked (`tokens.bot`).
    pub bot: Vec<String>,
    /// The `event_id`s of the events queued for the app's request URL, in order (none when the
    /// app has no request URL, or nothing was revoked).
    pub event_ids: Vec<String>,
}

/// Who is revoked in an installation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Whom<'a> {
    User(&'a str),
    Bot,
    Everyone,
}

impl Inner {
    /// The installation of `client_id` keyed `key` (`T…`, or `E…` for org-wide).
    fn install(&self, client_id: &str, key: &str) -> Result<&InstallRec, ControlError> {
        self.install_index(client_id, key)
            .and_then(|i| self.installs.get(i))
            .ok_or_else(|| ControlError::UnknownInstallation {
                client_id: client_id.to_owned(),
                installation: key.to_owned(),
            })
    }

    /// Revokes the live grants of `whom` in the installation; the users and bot users revoked.
    fn revoke_in(
        &mut self,
        client_id: &str,
        key: &str,
        whom: Whom<'_>,
    ) -> (Vec<String>, Vec<String>) {
        let mut oauth: Vec<String> = Vec::new();
        let mut bot: Vec<String> = Vec::new();
        let mut revoke = Vec::new();
        for (index, grant) in self.grants.iter().enumerate() {
            if grant.revoked || grant.client_id != client_id || key_of(&grant.identity) != key {
                continue;
            }
            let (list, id) = match grant.kind {
                GrantKind::SlackUser => (&mut oauth, &grant.identity.user_id),
                GrantKind::SlackBot => (&mut bot, &grant.bot_user_id),
                GrantKind::Notion => continue,
            };
            let wanted = match whom {
                Whom::User(user) => grant.kind == GrantKind::SlackUser && id == user,
                Whom::Bot => grant.kind == GrantKind::SlackBot,
                Whom::Everyone => true,
            };
            if wanted {
                revoke.push(index);
                if !list.contains(id) {
                    list.push(id.clone());
                }
            }
        }
        for index in revoke {
            self.revoke_grant(index);
        }
        (oauth, bot)
    }

    /// Revokes `whom`'s tokens in an installation and queues `tokens_revoked` (if any was live).
    pub(crate) fn revoke_tokens(
        &mut self,
        client_id: &str,
        key: &str,
        whom: Whom<'_>,
    ) -> Result<Revocation, ControlError> {
        self.install(client_id, key)?;
        let (oauth, bot) = self.revoke_in(client_id, key, whom);
        let mut revocation = Revocation {
            oauth,
            bot,
            event_ids: Vec::new(),
        };
        if !revocation.oauth.is_empty() || !revocation.bot.is_empty() {
            let event = tokens_revoked(&revocation.oauth, &revocation.bot);
            revocation
                .event_ids
                .extend(self.queue_event(client_id, key, event));
        }
        Ok(revocation)
    }

    /// Uninstalls the app from a workspace (`T…`) or an org (`E…`, org-wide install): revokes
    /// every token of the installation, forgets it, and queues `tokens_revoked` (when tokens
    /// were live) and `app_uninstalled`.
    pub(crate) fn uninstall(
        &mut self,
        client_id: &str,
        key: &str,
    ) -> Result<Revocation, ControlError> {
        self.install(client_id, key)?;
        let (oauth, bot) = self.revoke_in(client_id, key, Whom::Everyone);
        let mut revocation = Revocation {
            oauth,
            bot,
            event_ids: Vec::new(),
        };
        if !revocation.oauth.is_empty() || !revocation.bot.is_empty() {
            let event = tokens_revoked(&revocation.oauth, &revocation.bot);
            revocation
                .event_ids
                .extend(self.queue_event(client_id, key, event));
        }
        let event = json!({"type": "app_uninstalled"});
        revocation
            .event_ids
            .extend(self.queue_event(client_id, key, event));
        if let Some(index) = self.install_index(client_id, key) {
            self.installs.remove(index);
        }
        Ok(revocation)
    }

    /// After `auth.revoke` ended a token of `grant`: queues `tokens_revoked` for its user (a
    /// user token) or its bot user (a bot token).
    pub(crate) fn token_revoked_by_app(&mut self, grant: usize) {
        let Some(g) = self.grants.get(grant) else {
            return;
        };
        let (oauth, bot) = match g.kind {
            GrantKind::SlackUser => (vec![g.identity.user_id.clone()], Vec::new()),
            GrantKind::SlackBot => (Vec::new(), vec![g.bot_user_id.clone()]),
            GrantKind::Notion => return,
        };
        let (client_id, key) = (g.client_id.clone(), key_of(&g.identity).to_owned());
        if self.install_index(&client_id, &key).is_some() {
            self.queue_event(&client_id, &key, tokens_revoked(&oauth, &bot));
        }
    }

    /// Builds the envelope of `event` for the installation and queues it in the outbox, if the
    /// app has a request URL; its `event_id`.
    fn queue_event(&mut self, client_id: &str, key: &str, event: Value) -> Option<String> {
        let app = self.apps.get(client_id)?;
        let request_url = app.event_request_url.clone()?;
        let signing_secret = app.signing_secret.clone().unwrap_or_default();
        let app_id = app.app_id.clone();
        let install = self.install(client_id, key).ok()?;
        let enterprise = install.enterprise.as_ref().map(|e| e.id.clone());
        let team = (!install.org_wide)
            .then(|| install.team.as_ref().map(|t| t.id.clone()))
            .flatten();
        let (user_id, is_bot) = match &install.bot {
            Some((bot_user, _)) => (bot_user.clone(), true),
            None => (install.latest_installer.clone(), false),
        };
        let org_wide = install.org_wide;
        let event_type = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let event_id = format!("Ev{}", self.alnum(9).to_ascii_uppercase());
        let event_time = self.now();
        let mut body = json!({
            "token": VERIFICATION_TOKEN,
            "api_app_id": app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": event_time,
            "authorizations": [{
                "enterprise_id": enterprise,
                "team_id": team,
                "user_id": user_id,
                "is_bot": is_bot,
                "is_enterprise_install": org_wide,
            }],
            "is_ext_shared_channel": false,
        });
        if let Some(m) = body.as_object_mut() {
            if let Some(team) = &team {
                m.insert("team_id".into(), json!(team));
            }
            if let Some(enterprise) = &enterprise {
                m.insert("enterprise_id".into(), json!(enterprise));
            }
        }
        self.outbox.push(PendingEvent {
            event_id: event_id.clone(),
            event_type,
            client_id: client_id.to_owned(),
            request_url,
            signing_secret,
            body: body.to_string(),
            event_time,
        });
        Some(event_id)
    }
}

fn tokens_revoked(oauth: &[String], bot: &[String]) -> Value {
    json!({"type": "tokens_revoked", "tokens": {"oauth": oauth, "bot": bot}})
}
