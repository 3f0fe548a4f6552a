//! The control API, as Rust methods ([`Control`]) and as HTTP routes under `/_sandbox/`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::consent::Consent;
use crate::installs::SlackInstallation;
use crate::model::{App, AuthorizeOutcome, Counters, ExternalToken, Fault, RecordedRequest, Stats};
use crate::state::Shared;

/// Error of a control operation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// No app with this client id.
    #[error("unknown client id {0}")]
    UnknownApp(String),
    /// The URL given to [`Control::authorize`] is not an authorize URL of the sandbox.
    #[error("not an authorize URL: {0}")]
    NotAnAuthorizeUrl(String),
    /// The app is not installed there ([`Control::installations`] lists the installations).
    #[error(
        "app {client_id} has no installation {installation} (a team id T… for a workspace \
         install, an enterprise id E… for an org-wide one)"
    )]
    UnknownInstallation {
        /// The app's client id.
        client_id: String,
        /// The team or enterprise id given.
        installation: String,
    },
    /// The event request URL is not an absolute `http`/`https` URL.
    #[error("the event request URL {0} is not an absolute http or https URL")]
    BadRequestUrl(String),
}

/// Handle on the sandbox's control API (cheap to clone; all methods are synchronous and fast).
#[derive(Clone)]
pub struct Control {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("base_url", &self.shared.base_url)
            .finish()
    }
}

impl Control {
    /// Base URL of the sandbox, e.g. `http://127.0.0.1:49152` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Registers an app, replacing any app with the same client id.
    pub fn register_app(&self, app: App) {
        self.shared.lock().apps.insert(app.client_id.clone(), app);
    }

    /// The app with this client id.
    pub fn app(&self, client_id: &str) -> Option<App> {
        self.shared.lock().apps.get(client_id).cloned()
    }

    /// All registered apps, sorted by client id.
    pub fn apps(&self) -> Vec<App> {
        let mut v: Vec<App> = self.shared.lock().apps.values().cloned().collect();
        v.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        v
    }

    /// Turns Slack token rotation on or off for an app (Slack itself cannot turn it off).
    pub fn set_token_rotation(&self, client_id: &str, enabled: bool) -> Result<(), ControlError> {
        let mut inner = self.shared.lock();
        let app = inner
            .apps
            .get_mut(client_id)
            .ok_or_else(|| ControlError::UnknownApp(client_id.to_owned()))?;
        app.token_rotation_enabled = enabled;
        Ok(())
    }

    /// Queues the outcome of the next authorization (FIFO; one per authorize request).
    pub fn push_consent(&self, consent: Consent) {
        self.shared.lock().consents.push_back(consent);
    }

    /// Drops queued consents.
    pub fn clear_consents(&self) {
        self.shared.lock().consents.clear();
    }

    /// Moves the sandbox clock forward (expiry of codes, tokens and grace periods follows it).
    pub fn advance_clock(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let mut inner = self.shared.lock();
        inner.clock_offset = inner.clock_offset.saturating_add(secs);
    }

    /// The sandbox clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.shared.lock().now()
    }

    /// Seconds the clock has been advanced.
    pub fn clock_offset(&self) -> i64 {
        self.shared.lock().clock_offset
    }

    /// Queues a fault for the next requests to its path.
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.lock().add_fault(fault);
    }

    /// Faults still pending.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.lock().list_faults()
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Resets the counters.
    pub fn reset_counters(&self) {
        self.shared.lock().counters = Counters::default();
    }

    /// The request log (oldest first; bounded by the builder's log capacity).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.iter().cloned().collect()
    }

    /// Logged requests to one path.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// What the sandbox holds now (codes, tokens, grants, log) and its connection gauges, to
    /// check it against its [`Limits`](crate::Limits).
    pub fn stats(&self) -> Stats {
        let mut stats = self.shared.lock().stats(&self.shared.connections);
        (stats.event_log_entries, stats.events_pending) = self.shared.events.gauges();
        stats
    }

    /// The Slack installations (no tokens or secrets), in the order they were made: one per
    /// (app, team), or per (app, enterprise) for org-wide installs.
    pub fn installations(&self) -> Vec<SlackInstallation> {
        self.shared.lock().installations()
    }

    /// The installation of `client_id` keyed `key`: a team id (`T…`) for a workspace install,
    /// an enterprise id (`E…`) for an org-wide one.
    pub fn installation(&self, client_id: &str, key: &str) -> Option<SlackInstallation> {
        self.installations().into_iter().find(|i| {
            i.client_id == client_id
                && match (&i.team, &i.enterprise) {
                    (Some(team), _) => team.id == key,
                    (None, Some(enterprise)) => enterprise.id == key,
                    (None, None) => false,
                }
        })
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// Forgets every code, grant, token, installation, queued consent, fault, logged request,
    /// logged event and counter, and resets the clock; registered apps and external tokens stay
    /// (deliveries under way go on).
    pub fn reset(&self) {
        let mut inner = self.shared.lock();
        inner.codes.clear();
        inner.grants.clear();
        inner.tokens.clear();
        inner.installs.clear();
        inner.consents.clear();
        inner.faults.clear();
        inner.log.clear();
        inner.counters = Counters::default();
        inner.clock_offset = 0;
        inner.outbox.clear();
        self.shared.events.clear();
    }

    /// Stores an external token for `apps.auth.external.*`.
    pub fn add_external_token(&self, token: ExternalToken) {
        let mut inner = self.shared.lock();
        inner
            .external
            .retain(|t| t.external_token_id != token.external_token_id);
        inner.external.push(token);
    }

    /// External tokens currently stored.
    pub fn external_tokens(&self) -> Vec<ExternalToken> {
        self.shared.lock().external.clone()
    }

    /// Runs an authorize URL as a browser would (consent included) and returns the redirect,
    /// without an HTTP round trip. `url` is absolute or a path with query, e.g.
    /// `/oauth/v2/authorize?client_id=…&scope=chat:write`. Not logged or counted.
    pub fn authorize(&self, url: &str) -> Result<AuthorizeOutcome, ControlError> {
        let parsed = url::Url::parse(url)
            .or_else(|_| url::Url::parse(&format!("http://sandbox.invalid{url}")))
            .map_err(|_| ControlError::NotAnAuthorizeUrl(url.to_owned()))?;
        let flow = crate::server::flow_of(parsed.path())
            .ok_or_else(|| ControlError::NotAnAuthorizeUrl(url.to_owned()))?;
        let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
        let reply = {
            let mut inner = self.shared.lock();
            crate::authorize::authorize(&mut inner, flow, &q)
        };
        let location = reply.header("location").map(str::to_owned);
        let mut out = AuthorizeOutcome {
            status: reply.status.as_u16(),
            location: location.clone(),
            code: None,
            state: None,
            error: reply.header("x-sandbox-error").map(str::to_owned),
        };
        if let Some(loc) = location.and_then(|l| url::Url::parse(&l).ok()) {
            for (k, v) in loc.query_pairs() {
                match k.as_ref() {
                    "code" => out.code = Some(v.into_owned()),
                    "state" => out.state = Some(v.into_owned()),
                    "error" => out.error = Some(v.into_owned()),
                    _ => {}
                }
            }
        }
        Ok(out)
    }

    /// The code an authorize URL redirects with, consent granted: [`authorize`](Self::authorize)
    /// for tests that only want the code. `None` if the URL is not an authorize URL or the
    /// authorization was refused.
    pub fn authorize_code(&self, url: &str) -> Option<String> {
        self.authorize(url).ok()?.code
    }
}

pub(crate) type St = State<Arc<Shared>>;

pub(crate) fn ctl(s: &Arc<Shared>) -> Control {
    Control {
        shared: Arc::clone(s),
    }
}

#[derive(Debug, Deserialize)]
struct Advance {
    seconds: u64,
}

#[derive(Debug, Deserialize)]
struct AuthorizeBody {
    url: String,
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    crate::control_events::routes()
        .route(
            "/_sandbox/health",
            get(|State(s): St| async move { Json(json!({"ok": true, "base_url": s.base_url})) }),
        )
        .route(
            "/_sandbox/apps",
            get(|State(s): St| async move { Json(ctl(&s).apps()) }).post(
                |State(s): St, Json(app): Json<App>| async move {
                    ctl(&s).register_app(app.clone());
                    Json(app)
                },
            ),
        )
        .route(
            "/_sandbox/consent",
            post(|State(s): St, Json(c): Json<Consent>| async move {
                ctl(&s).push_consent(c);
                Json(json!({"ok": true}))
            })
            .delete(|State(s): St| async move {
                ctl(&s).clear_consents();
                Json(json!({"ok": true}))
            }),
        )
        .route(
            "/_sandbox/clock",
            get(|State(s): St| async move {
                let c = ctl(&s);
                Json(json!({"now": c.now(), "offset_secs": c.clock_offset()}))
            }),
        )
        .route(
            "/_sandbox/clock/advance",
            post(|State(s): St, Json(a): Json<Advance>| async move {
                let c = ctl(&s);
                c.advance_clock(Duration::from_secs(a.seconds));
                Json(json!({"now": c.now(), "offset_secs": c.clock_offset()}))
            }),
        )
        .route(
            "/_sandbox/faults",
            get(|State(s): St| async move { Json(ctl(&s).faults()) })
                .post(|State(s): St, Json(f): Json<Fault>| async move {
                    ctl(&s).inject_fault(f);
                    Json(ctl(&s).faults())
                })
                .delete(|State(s): St| async move {
                    ctl(&s).clear_faults();
                    Json(json!({"ok": true}))
                }),
        )
        .route(
            "/_sandbox/counters",
            get(|State(s): St| async move { Json(ctl(&s).counters()) }).delete(
                |State(s): St| async move {
                    ctl(&s).reset_counters();
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/_sandbox/requests",
            get(|State(s): St| async move { Json(ctl(&s).requests()) }).delete(
                |State(s): St| async move {
                    ctl(&s).clear_requests();
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/_sandbox/authorize",
            post(|State(s): St, Json(b): Json<AuthorizeBody>| async move {
                match ctl(&s).authorize(&b.url) {
                    Ok(o) => (
                        http::StatusCode::OK,
                        Json(serde_json::to_value(o).unwrap_or(Value::Null)),
                    ),
                    Err(e) => (
                        http::StatusCode::BAD_REQUEST,
                        Json(json!({"error": e.to_string()})),
                    ),
                }
            }),
        )
        .route(
            "/_sandbox/installations",
            get(|State(s): St| async move { Json(ctl(&s).installations()) }),
        )
        .route(
            "/_sandbox/stats",
            get(|State(s): St| async move { Json(ctl(&s).stats()) }),
        )
        .route(
            "/_sandbox/reset",
            post(|State(s): St| async move {
                ctl(&s).reset();
                Json(json!({"ok": true}))
            }),
        )
        .route(
            "/_sandbox/external-tokens",
            get(|State(s): St| async move { Json(ctl(&s).external_tokens()) }).post(
                |State(s): St, Json(t): Json<ExternalToken>| async move {
                    ctl(&s).add_external_token(t);
                    Json(json!({"ok": true}))
                },
            ),
        )
}
