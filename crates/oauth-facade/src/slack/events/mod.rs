//! Slack's Events API endpoint to mount in an axum app (features `slack` and `axum`), like
//! Bolt's: every request's signature checked on its raw body before it is parsed
//! ([`SlackVerifier`], also usable alone on interactivity and slash-command routes),
//! `url_verification` answered with its challenge, each `event_callback` acknowledged with 200
//! and handed to the app's [`EventHandler`] in a task of its own (the answer does not wait for
//! it), Slack's retries of an event already accepted answered 200 and not handed over again, and
//! with a [`TokenManager`], the tokens that `tokens_revoked` and `app_uninstalled` end removed
//! from the store and the cache before the answer ([token revocation](self#token-revocation)).
//!
//! | request | answer |
//! | --- | --- |
//! | signature missing, malformed, wrong, or timestamp more than 5 min away | 401, nothing else done |
//! | body over the limit (default 1 MiB) | 413 |
//! | signed, but not an Events API body (invalid JSON, unknown `type`, a field missing) | 400 |
//! | `url_verification` | 200 `{"challenge": …}` |
//! | `event_callback`, first delivery | 200 (after the revocation, if any); the handler runs after |
//! | `event_callback` whose `event_id` was accepted before (a retry, `X-Slack-Retry-Num`) | 200, nothing done |
//! | `event_callback` whose first delivery is still removing its tokens | 503, so that Slack tries again later |
//! | `event_callback` whose revocation the store failed | 500, so that Slack retries it |
//! | `app_rate_limited` | 200 |
//!
//! # Retries
//!
//! Slack retries an event it got no 2xx for within 3 s, up to 3 times (`X-Slack-Retry-Num`,
//! `X-Slack-Retry-Reason`), with the same `event_id`. The endpoint remembers the event ids it
//! accepted (by default the last 10,000, for an hour; [`EventsEndpointBuilder::dedup`]) and
//! answers their retries 200 without handling them again. Memory is bounded by both limits; the
//! set is per process, so a retry that reaches another replica is handled there (Slack's
//! retries are rare: the acknowledgement does not wait for the handler) unless the replicas
//! share a store of handled events ([`EventsEndpointBuilder::shared_dedup`]: the SQLite and
//! PostgreSQL token stores are one). Then the first replica to record an event runs the
//! handler, and a retry elsewhere is answered 200 without it (its token removal, idempotent,
//! still runs).
//!
//! # Token revocation
//!
//! On by default when a [`TokenManager`] is given ([`EventsEndpointBuilder::token_manager`]),
//! through [`TokenManager::forget`] and [`TokenManager::forget_installation`]: the token sets
//! are deleted without calling Slack (it already ended them).
//!
//! | event | removed |
//! | --- | --- |
//! | `tokens_revoked`, `tokens.oauth: [U…]` | the token set `user:U…` of each listed user, in the installation the event names |
//! | `tokens_revoked`, `tokens.bot: [U…]` | that installation's bot token set (`bot`), when its record's bot user (`bot_user_id`) is listed, or when it names none (no record, or one saved without it); kept, with a warning, when its bot user is not listed |
//! | `app_uninstalled`, workspace install | the installation (`T…` or `E…/T…`): its record and every token set |
//! | `app_uninstalled`, org-wide install (`E…/*`) | every installation of the organisation: the org-wide one and each workspace's (`E…/T…`) |
//!
//! The installation an event names is the first, in the lookup order of
//! [`SlackContext::installations`](oauth_slack::SlackContext::installations), that the store
//! holds (a record or a token set): `authorizations[0]`'s org-wide install when it says
//! `is_enterprise_install`, else the workspace's install, then its organisation's org-wide one
//! (the installation whose tokens served that workspace); without `authorizations`, the
//! envelope's `enterprise_id` and `team_id`. An event naming nothing the store holds removes
//! nothing. Slack lists bot *user* ids in `tokens.bot`, and a workspace has one bot per app, so
//! the record's `bot_user_id` is what is compared (Bolt deletes the bot whatever the list says).
//! That an org-wide `app_uninstalled` also ends the org's workspace installs is our reading of
//! "the app was uninstalled from the org" (Slack does not say; Bolt deletes what matches the
//! event's enterprise and team).
//!
//! Each removal is a [`TokenEvent::Removed`](oauth_manager::TokenEvent::Removed) through the
//! manager's event hook, and is listed in [`EventDelivery::removed`]. The manager's cache
//! forgets the token sets at once; other replicas sharing the store stop serving them within
//! their [`ManagerConfig::revalidate_interval`](oauth_manager::ManagerConfig::revalidate_interval)
//! (10 s by default) plus one store read. The removal happens before the 200 (a few store
//! writes), so that a store failure is answered 500 and Slack delivers the event again; a second
//! identical event removes nothing and is answered 200.
//!
//! # Example
//!
//! ```no_run
//! # async fn run(manager: oauth_facade::TokenManager) -> oauth_facade::Result<()> {
//! use oauth_facade::slack::{Event, SigningSecret, authorize};
//! use oauth_facade::slack::events::{EventDelivery, EventsEndpoint};
//!
//! let secret = SigningSecret::new(std::env::var("SLACK_SIGNING_SECRET").unwrap_or_default());
//! let handler_manager = manager.clone();
//! let events = EventsEndpoint::builder(secret)
//!     .token_manager(manager)
//!     .handler(move |delivery: EventDelivery| {
//!         let manager = handler_manager.clone();
//!         async move {
//!             if let Event::Other(event) = &delivery.callback.event
//!                 && event.event_type == "app_mention"
//!             {
//!                 let tokens = authorize(&manager, &delivery.callback.context()).await;
//!                 // reply with `tokens.bot` …
//! #               let _ = tokens;
//!             }
//!         }
//!     })
//!     .build()?;
//! let app: axum::Router = axum::Router::new().merge(events.router("/slack/events"));
//! # let _ = app; Ok(()) }
//! ```

mod dedup;
mod revocation;
mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use oauth_core::{Clock, Error, Result, SystemClock, TokenKey, UsedStates};
use oauth_manager::TokenManager;
use oauth_slack::{EventCallback, EventRequest, SigningSecret};

use dedup::{Arrival, RecentEvents, SharedDedup};
use verify::plain;
pub use verify::{
    DEFAULT_BODY_LIMIT, Rejection, SlackVerifier, VerifiedBody, verify_slack_request,
};

/// The header of Slack's retries: which retry this is (1, 2, 3).
pub const RETRY_NUM_HEADER: &str = "x-slack-retry-num";
/// The header of Slack's retries: why the previous delivery failed (`http_timeout`, …).
pub const RETRY_REASON_HEADER: &str = "x-slack-retry-reason";

/// Event ids remembered by default.
const DEFAULT_DEDUP_CAPACITY: usize = 10_000;
/// How long an event id is remembered by default (Slack's last retry comes after ~5 minutes).
const DEFAULT_DEDUP_TTL: Duration = Duration::from_secs(3600);
/// The longest retry reason kept.
const MAX_RETRY_REASON: usize = 64;

/// One event handed to the app.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventDelivery {
    /// The event and its envelope.
    pub callback: Arc<EventCallback>,
    /// Set when this delivery is one of Slack's retries (of an event this process had not
    /// accepted before: retries of accepted ones are not handed over).
    pub retry: Option<Retry>,
    /// The token sets the event removed (with revocation on): `tokens_revoked`'s users and bot,
    /// `app_uninstalled`'s installations'.
    pub removed: Vec<TokenKey>,
}

/// Slack's retry headers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// `X-Slack-Retry-Num`.
    pub num: u32,
    /// `X-Slack-Retry-Reason` (at most 64 characters of it), if sent.
    pub reason: Option<String>,
}

/// What the app does with an event. Runs in a task of its own, after Slack was answered.
///
/// A closure `Fn(EventDelivery) -> impl Future<Output = ()>` is one.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event (once per `event_id`, retries included).
    async fn handle(&self, delivery: EventDelivery);
}

#[async_trait]
impl<F, Fut> EventHandler for F
where
    F: Fn(EventDelivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async fn handle(&self, delivery: EventDelivery) {
        self(delivery).await;
    }
}

struct Endpoint {
    verifier: SlackVerifier,
    handler: Option<Arc<dyn EventHandler>>,
    revocation: Option<TokenManager>,
    recent: RecentEvents,
    shared: Option<SharedDedup>,
}

/// The Events API endpoint. Build it with [`EventsEndpoint::builder`], mount
/// [`EventsEndpoint::router`].
#[derive(Clone)]
pub struct EventsEndpoint {
    endpoint: Arc<Endpoint>,
}

impl std::fmt::Debug for EventsEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsEndpoint")
            .field("verifier", &self.endpoint.verifier)
            .field("handler", &self.endpoint.handler.is_some())
            .field("revocation", &self.endpoint.revocation.is_some())
            .finish_non_exhaustive()
    }
}

/// Configures an [`EventsEndpoint`].
pub struct EventsEndpointBuilder {
    secret: SigningSecret,
    clock: Arc<dyn Clock>,
    body_limit: usize,
    manager: Option<TokenManager>,
    revocation: bool,
    handler: Option<Arc<dyn EventHandler>>,
    dedup_capacity: usize,
    dedup_ttl: Duration,
    shared: Option<Arc<dyn UsedStates>>,
    previous: Vec<SigningSecret>,
}

impl std::fmt::Debug for EventsEndpointBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsEndpointBuilder")
            .field("secret", &self.secret)
            .field("body_limit", &self.body_limit)
            .field("revocation", &(self.revocation && self.manager.is_some()))
            .finish_non_exhaustive()
    }
}

impl EventsEndpointBuilder {
    /// Removes the token sets that `tokens_revoked` and `app_uninstalled` end through `manager`
    /// (a Slack manager; see the module docs). Turn it off with
    /// [`revocation(false)`](Self::revocation).
    pub fn token_manager(mut self, manager: TokenManager) -> Self {
        self.manager = Some(manager);
        self
    }

    /// Whether revocation events remove token sets (default: yes, when a manager is given).
    pub fn revocation(mut self, enabled: bool) -> Self {
        self.revocation = enabled;
        self
    }

    /// What handles each event (default: none; the events are acknowledged and dropped).
    pub fn handler(mut self, handler: impl EventHandler) -> Self {
        self.handler = Some(Arc::new(handler));
        self
    }

    /// Refuses bodies over `bytes` (default [`DEFAULT_BODY_LIMIT`]).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Takes "now" for the signature window from `clock` (tests use a `ManualClock`).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Remembers at most `capacity` accepted event ids, each for at most `ttl` (default 10,000
    /// for an hour).
    pub fn dedup(mut self, capacity: usize, ttl: Duration) -> Self {
        self.dedup_capacity = capacity;
        self.dedup_ttl = ttl;
        self
    }

    /// Also accepts requests signed with `secret`, the app's previous signing secret, while it is
    /// rotated ([`SlackVerifier::also_accept`]); may be given more than once. Remove it once the
    /// rotation is over.
    pub fn previous_secret(mut self, secret: SigningSecret) -> Self {
        self.previous.push(secret);
        self
    }

    /// Records each handled event in `handled`, shared by the replicas (the SQLite and
    /// PostgreSQL token stores implement [`UsedStates`]; each record lives the dedup `ttl`), so
    /// that the app's handler runs once per `event_id` across replicas: a retry that reaches
    /// another replica is answered 200 without handing it over (the token removal, idempotent,
    /// runs on every delivery). A store failure while recording is answered 500, and the handler
    /// does not run (Slack delivers the event again). Default: none, each replica dedups alone.
    pub fn shared_dedup(mut self, handled: Arc<dyn UsedStates>) -> Self {
        self.shared = Some(handled);
        self
    }

    /// Checks the configuration and builds the endpoint.
    ///
    /// Fails with [`Error::Configuration`] when the signing secret is empty (every request
    /// would be refused), when the token manager is not Slack's, or when the body limit or the
    /// dedup capacity is zero.
    pub fn build(self) -> Result<EventsEndpoint> {
        if self.secret.is_empty() || self.previous.iter().any(SigningSecret::is_empty) {
            return Err(Error::configuration(
                "the Slack signing secret is empty (or a `previous_secret` is): set it from the app's \
                 Basic Information page (\"Signing Secret\")",
            ));
        }
        if let Some(manager) = &self.manager {
            let provider = manager.provider().provider_id();
            if provider != oauth_slack::PROVIDER {
                return Err(Error::configuration(format!(
                    "the events endpoint's token manager manages `{provider}`, not `slack`: give it \
                     the manager of the Slack installations"
                )));
            }
        }
        if self.body_limit == 0 || self.dedup_capacity == 0 {
            return Err(Error::configuration(
                "the events endpoint's body limit and dedup capacity must be positive",
            ));
        }
        let mut verifier = SlackVerifier::new(self.secret)
            .clock(self.clock.clone())
            .body_limit(self.body_limit);
        for previous in self.previous {
            verifier = verifier.also_accept(previous);
        }
        let shared = self.shared.map(|used| SharedDedup {
            used,
            ttl: self.dedup_ttl,
            clock: self.clock.clone(),
        });
        Ok(EventsEndpoint {
            endpoint: Arc::new(Endpoint {
                shared,
                verifier,
                handler: self.handler,
                revocation: self.manager.filter(|_| self.revocation),
                recent: RecentEvents::new(self.dedup_capacity, self.dedup_ttl),
            }),
        })
    }
}

impl EventsEndpoint {
    /// An endpoint that verifies requests against the app's signing secret.
    pub fn builder(secret: SigningSecret) -> EventsEndpointBuilder {
        EventsEndpointBuilder {
            secret,
            clock: Arc::new(SystemClock),
            body_limit: DEFAULT_BODY_LIMIT,
            manager: None,
            revocation: true,
            handler: None,
            dedup_capacity: DEFAULT_DEDUP_CAPACITY,
            dedup_ttl: DEFAULT_DEDUP_TTL,
            shared: None,
            previous: Vec::new(),
        }
    }

    /// The route: `POST path` (the app's Event Subscriptions request URL).
    pub fn router<S: Clone + Send + Sync + 'static>(&self, path: &str) -> Router<S> {
        Router::new()
            .route(path, post(events))
            .with_state(self.endpoint.clone())
    }

    /// The verifier, to put in front of the app's other Slack routes (interactivity, slash
    /// commands).
    pub fn verifier(&self) -> &SlackVerifier {
        &self.endpoint.verifier
    }
}

async fn events(State(endpoint): State<Arc<Endpoint>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match endpoint.verifier.verify(&parts.headers, body).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let request = match EventRequest::decode(&body) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(%error, "a signed request is not an Events API body");
            return plain(StatusCode::BAD_REQUEST, format!("request refused: {error}"));
        }
    };
    match request {
        EventRequest::UrlVerification(verification) => {
            Json(serde_json::json!({ "challenge": verification.challenge })).into_response()
        }
        EventRequest::AppRateLimited(limited) => {
            tracing::warn!(team = ?limited.team_id, minute = ?limited.minute_rate_limited, "Slack rate-limited this app's events for a minute");
            StatusCode::OK.into_response()
        }
        EventRequest::EventCallback(callback) => {
            endpoint.accept(*callback, retry(&parts.headers)).await
        }
        _ => StatusCode::OK.into_response(),
    }
}

impl Endpoint {
    async fn accept(&self, callback: EventCallback, retry: Option<Retry>) -> Response {
        let id = callback.event_id.clone();
        match self.recent.arrive(&id, Instant::now()) {
            Arrival::New => {}
            Arrival::Done => {
                tracing::debug!(event_id = %id, retry = ?retry, "a retry of an event already accepted: answered, not handled again");
                return StatusCode::OK.into_response();
            }
            Arrival::InProgress => {
                // Its first delivery is still removing tokens: if that fails, only a later
                // retry can bring the event back, so this one must not be answered 2xx.
                tracing::info!(event_id = %id, retry = ?retry, "a retry of an event still being accepted: answered 503, Slack will try again");
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this event's first delivery is still being processed; deliver it again later"
                        .to_owned(),
                );
            }
        }
        let removed = match &self.revocation {
            Some(manager) => match revocation::apply(manager, &callback).await {
                Ok(removed) => removed,
                Err(error) => {
                    self.recent.forget(&id);
                    tracing::error!(event_id = %id, %error, "could not remove the revoked tokens; answering 500 so that Slack retries");
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!(
                            "could not remove the tokens this event revokes ({error}); Slack will \
                             deliver it again"
                        ),
                    );
                }
            },
            None => Vec::new(),
        };
        if let Some(shared) = &self.shared {
            match shared.first(&callback).await {
                Ok(true) => {}
                Ok(false) => {
                    self.recent.done(&id);
                    tracing::debug!(event_id = %id, retry = ?retry, "an event another replica handled: answered, not handled again");
                    return StatusCode::OK.into_response();
                }
                Err(error) => {
                    self.recent.forget(&id);
                    tracing::error!(event_id = %id, %error, "could not record the event in the shared store; answering 500 so that Slack retries");
                    return plain(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!(
                            "could not record this event as handled ({error}); Slack will \
                             deliver it again"
                        ),
                    );
                }
            }
        }
        self.recent.done(&id);
        if let Some(handler) = &self.handler {
            let delivery = EventDelivery {
                callback: Arc::new(callback),
                retry,
                removed,
            };
            let handler = handler.clone();
            tokio::spawn(async move { handler.handle(delivery).await });
        }
        StatusCode::OK.into_response()
    }
}

/// Slack's retry headers, if this is a retry.
fn retry(headers: &HeaderMap) -> Option<Retry> {
    let num = headers
        .get(RETRY_NUM_HEADER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let reason = headers
        .get(RETRY_REASON_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(|reason| reason.chars().take(MAX_RETRY_REASON).collect());
    Some(Retry { num, reason })
}
