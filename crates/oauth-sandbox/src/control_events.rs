//! The control API of the Events API emulation: an app's request URL and signing secret, the
//! revocations and uninstalls that make Slack send `tokens_revoked` and `app_uninstalled`, and
//! the delivery log ([`OutgoingEvent`]) to wait on.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::{Control, ControlError, St, ctl};
use crate::events::{OutgoingEvent, Revocation, Whom};
use crate::state::Shared;

impl Control {
    /// Sets the app's Events API request URL (`None`: send no events) and, when given, its
    /// signing secret. Events are POSTed there from now on, signed with the secret.
    ///
    /// ```
    /// use std::time::Duration;
    /// use oauth_sandbox::{
    ///     DEFAULT_SLACK_CLIENT_ID as ID, DEFAULT_SLACK_CLIENT_SECRET, DeliveryStatus, Limits,
    ///     Sandbox,
    /// };
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut limits = Limits::default();
    /// limits.event_retry_delays = vec![Duration::from_millis(10)]; // one retry, soon
    /// let sandbox = Sandbox::builder().limits(limits).start().await?;
    /// let control = sandbox.control();
    /// // Your app's events endpoint; here nothing listens there.
    /// control.set_event_subscription(ID, Some("http://127.0.0.1:9/slack/events"), Some("s3cr3t"))?;
    ///
    /// // Install in the default workspace T0SANDBOX1, then uninstall from it.
    /// let code = control
    ///     .authorize_code(&format!("/oauth/v2/authorize?client_id={ID}&scope=chat:write"))
    ///     .ok_or("no code")?;
    /// reqwest::Client::new()
    ///     .post(format!("{}/api/oauth.v2.access", sandbox.base_url()))
    ///     .header("content-type", "application/x-www-form-urlencoded")
    ///     .body(format!("client_id={ID}&client_secret={DEFAULT_SLACK_CLIENT_SECRET}&code={code}"))
    ///     .send()
    ///     .await?;
    /// let uninstall = control.uninstall(ID, "T0SANDBOX1")?; // tokens_revoked, app_uninstalled
    ///
    /// // Delivery runs in the background: wait on the log.
    /// let id = &uninstall.event_ids[1];
    /// while control.event(id).ok_or("not logged")?.status == DeliveryStatus::Pending {
    ///     tokio::time::sleep(Duration::from_millis(5)).await;
    /// }
    /// let event = control.event(id).ok_or("not logged")?;
    /// assert_eq!(event.envelope()["event"]["type"], "app_uninstalled");
    /// assert_eq!(event.status, DeliveryStatus::Failed); // nobody answered
    /// assert_eq!(event.attempts[1].retry_reason.as_deref(), Some("connection_failed"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_event_subscription(
        &self,
        client_id: &str,
        request_url: Option<&str>,
        signing_secret: Option<&str>,
    ) -> Result<(), ControlError> {
        if let Some(url) = request_url {
            let parsed =
                url::Url::parse(url).map_err(|_| ControlError::BadRequestUrl(url.to_owned()))?;
            if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
                return Err(ControlError::BadRequestUrl(url.to_owned()));
            }
        }
        let mut inner = self.shared.lock();
        let app = inner
            .apps
            .get_mut(client_id)
            .ok_or_else(|| ControlError::UnknownApp(client_id.to_owned()))?;
        app.event_request_url = request_url.map(str::to_owned);
        if let Some(secret) = signing_secret {
            app.signing_secret = Some(secret.to_owned());
        }
        Ok(())
    }

    /// Revokes every token of `user_id` in the installation `installation` (`T…`, or `E…` for
    /// an org-wide install) of `client_id`, as the user would in the workspace's settings, and
    /// sends `tokens_revoked` with `tokens.oauth: [user_id]` (nothing when none was live).
    pub fn revoke_user_tokens(
        &self,
        client_id: &str,
        installation: &str,
        user_id: &str,
    ) -> Result<Revocation, ControlError> {
        self.with_events(|inner| inner.revoke_tokens(client_id, installation, Whom::User(user_id)))
    }

    /// Revokes the bot tokens of the installation and sends `tokens_revoked` with
    /// `tokens.bot: [its bot user]` (nothing when none was live).
    pub fn revoke_bot_token(
        &self,
        client_id: &str,
        installation: &str,
    ) -> Result<Revocation, ControlError> {
        self.with_events(|inner| inner.revoke_tokens(client_id, installation, Whom::Bot))
    }

    /// Uninstalls the app from a workspace (`installation` = `T…`) or, for an org-wide install,
    /// from the organization (`E…`): every token of the installation is revoked, the
    /// installation is forgotten, and the app is sent `tokens_revoked` (the users and bot whose
    /// tokens were live) then `app_uninstalled`.
    pub fn uninstall(
        &self,
        client_id: &str,
        installation: &str,
    ) -> Result<Revocation, ControlError> {
        self.with_events(|inner| inner.uninstall(client_id, installation))
    }

    /// The events sent (or being sent) to apps, oldest first; at most
    /// [`Limits::event_log_capacity`](crate::Limits::event_log_capacity).
    pub fn events(&self) -> Vec<OutgoingEvent> {
        self.shared.events.entries()
    }

    /// The logged event with this `event_id`.
    pub fn event(&self, event_id: &str) -> Option<OutgoingEvent> {
        self.events().into_iter().find(|e| e.event_id == event_id)
    }

    /// Empties the event log (deliveries under way go on, unlogged).
    pub fn clear_events(&self) {
        self.shared.events.clear();
    }

    fn with_events<T>(
        &self,
        operation: impl FnOnce(&mut crate::state::Inner) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let mut inner = self.shared.lock();
        let result = operation(&mut inner);
        self.shared.flush_events(&mut inner);
        result
    }
}

#[derive(Debug, Deserialize)]
struct Subscription {
    client_id: String,
    request_url: Option<String>,
    #[serde(default)]
    signing_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RevokeBody {
    client_id: String,
    installation: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    bot: bool,
}

#[derive(Debug, Deserialize)]
struct UninstallBody {
    client_id: String,
    installation: String,
}

fn answer(result: Result<Value, ControlError>) -> (StatusCode, Json<Value>) {
    match result {
        Ok(v) => (StatusCode::OK, Json(v)),
        Err(e) => {
            let status = match e {
                ControlError::UnknownApp(_) | ControlError::UnknownInstallation { .. } => {
                    StatusCode::NOT_FOUND
                }
                _ => StatusCode::BAD_REQUEST,
            };
            (status, Json(json!({"error": e.to_string()})))
        }
    }
}

fn revocation(r: Result<Revocation, ControlError>) -> Result<Value, ControlError> {
    r.map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/_sandbox/events",
            get(|State(s): St| async move { Json(ctl(&s).events()) }).delete(
                |State(s): St| async move {
                    ctl(&s).clear_events();
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/_sandbox/events/subscription",
            post(|State(s): St, Json(b): Json<Subscription>| async move {
                answer(
                    ctl(&s)
                        .set_event_subscription(
                            &b.client_id,
                            b.request_url.as_deref(),
                            b.signing_secret.as_deref(),
                        )
                        .map(|()| json!({"ok": true})),
                )
            }),
        )
        .route(
            "/_sandbox/revoke",
            post(|State(s): St, Json(b): Json<RevokeBody>| async move {
                let c = ctl(&s);
                answer(revocation(match (&b.user_id, b.bot) {
                    (Some(user), false) => {
                        c.revoke_user_tokens(&b.client_id, &b.installation, user)
                    }
                    (None, true) => c.revoke_bot_token(&b.client_id, &b.installation),
                    _ => {
                        return (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"error": "give either user_id or \"bot\": true"})),
                        );
                    }
                }))
            }),
        )
        .route(
            "/_sandbox/uninstall",
            post(|State(s): St, Json(b): Json<UninstallBody>| async move {
                answer(revocation(ctl(&s).uninstall(&b.client_id, &b.installation)))
            }),
        )
}
