//! Public data types of the sandbox: apps, consent directives, faults, the request log and counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Which provider an app (or a request) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Notion (`/v1/oauth/...`).
    Notion,
    /// Slack (`/oauth/...`, `/openid/...`, `/api/...`).
    Slack,
}

/// An OAuth client registered in the sandbox.
///
/// Construct it with [`App::notion`] or [`App::slack`] and adjust with the `with_*` methods; over
/// HTTP it is the JSON form of this struct (every field but `provider`, `client_id` and
/// `redirect_uris` has a default). Its `Debug` shows neither secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Provider this app belongs to.
    pub provider: Provider,
    /// OAuth client id.
    pub client_id: String,
    /// Client secret; `None` for a public (PKCE-only) client.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Registered redirect URIs. Loopback hosts match any port (RFC 8252 §7.3); Slack also
    /// accepts a subdirectory of a registered URI.
    pub redirect_uris: Vec<String>,
    /// Allowed bot scopes (Slack) or the capabilities reported by introspect (Notion). For Slack an
    /// empty list allows any scope.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Allowed Slack user scopes; empty allows any.
    #[serde(default)]
    pub user_scopes: Vec<String>,
    /// Slack: whether token rotation is on (expiring `xoxe.` tokens and `xoxe-1-` refresh tokens).
    #[serde(default)]
    pub token_rotation_enabled: bool,
    /// Slack: PKCE enabled, which makes the app a public client (no secret needed, every authorize
    /// needs a `code_challenge`, tokens always rotate, refresh tokens expire after 30 days).
    #[serde(default)]
    pub pkce_enabled: bool,
    /// Seconds a used refresh token stays usable; a reuse within them replays the pair it minted.
    #[serde(default)]
    pub refresh_grace_secs: u64,
    /// Slack app id (`A…`); for Notion an informational name.
    #[serde(default)]
    pub app_id: String,
    /// Slack: the lifetime of the rotating access tokens it mints, in seconds (`None`: Slack's
    /// 43,200). Short lifetimes let tests go through many expiry cycles in real time.
    #[serde(default)]
    pub access_token_ttl_secs: Option<u64>,
    /// Slack: the signing secret the sandbox signs the app's events with (`X-Slack-Signature`);
    /// [`App::slack`] gives [`DEFAULT_SLACK_SIGNING_SECRET`].
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// Slack: the Events API request URL the sandbox POSTs the app's events to
    /// (`tokens_revoked`, `app_uninstalled`); `None`: no events are sent.
    #[serde(default)]
    pub event_request_url: Option<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "[redacted]");
        f.debug_struct("App")
            .field("provider", &self.provider)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("user_scopes", &self.user_scopes)
            .field("token_rotation_enabled", &self.token_rotation_enabled)
            .field("pkce_enabled", &self.pkce_enabled)
            .field("refresh_grace_secs", &self.refresh_grace_secs)
            .field("app_id", &self.app_id)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("signing_secret", &redacted(&self.signing_secret))
            .field("event_request_url", &self.event_request_url)
            .finish()
    }
}

impl App {
    /// A Notion public integration. Refresh grace period 0 (a spent refresh token fails at once).
    pub fn notion(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        redirect_uris: &[&str],
    ) -> Self {
        Self {
            provider: Provider::Notion,
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            scopes: vec![
                "read_content".into(),
                "update_content".into(),
                "insert_content".into(),
                "read_user_with_email".into(),
            ],
            user_scopes: Vec::new(),
            token_rotation_enabled: true,
            pkce_enabled: false,
            refresh_grace_secs: 0,
            app_id: String::from("Sandbox Notion integration"),
            access_token_ttl_secs: None,
            signing_secret: None,
            event_request_url: None,
        }
    }

    /// A Slack app without token rotation, with the default grace period
    /// ([`DEFAULT_SLACK_REFRESH_GRACE_SECS`]) for when rotation gets enabled, the default signing
    /// secret ([`DEFAULT_SLACK_SIGNING_SECRET`]) and no event request URL.
    pub fn slack(
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        app_id: impl Into<String>,
        redirect_uris: &[&str],
    ) -> Self {
        Self {
            provider: Provider::Slack,
            client_id: client_id.into(),
            client_secret: Some(client_secret.into()),
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            scopes: Vec::new(),
            user_scopes: Vec::new(),
            token_rotation_enabled: false,
            pkce_enabled: false,
            refresh_grace_secs: DEFAULT_SLACK_REFRESH_GRACE_SECS,
            app_id: app_id.into(),
            access_token_ttl_secs: None,
            signing_secret: Some(DEFAULT_SLACK_SIGNING_SECRET.to_owned()),
            event_request_url: None,
        }
    }

    /// Turns Slack token rotation on or off.
    #[must_use]
    pub fn with_rotation(mut self, enabled: bool) -> Self {
        self.token_rotation_enabled = enabled;
        self
    }

    /// Makes the app a PKCE public client (Slack).
    #[must_use]
    pub fn with_pkce(mut self, enabled: bool) -> Self {
        self.pkce_enabled = enabled;
        self
    }

    /// Removes the client secret (public client).
    #[must_use]
    pub fn without_secret(mut self) -> Self {
        self.client_secret = None;
        self
    }

    /// Sets the allowed bot scopes (Slack) or the introspect scopes (Notion).
    #[must_use]
    pub fn with_scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the allowed Slack user scopes.
    #[must_use]
    pub fn with_user_scopes(mut self, scopes: &[&str]) -> Self {
        self.user_scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Sets the refresh-token grace period in seconds.
    #[must_use]
    pub fn with_refresh_grace_secs(mut self, secs: u64) -> Self {
        self.refresh_grace_secs = secs;
        self
    }

    /// Sets the signing secret the app's events are signed with (Slack).
    #[must_use]
    pub fn with_signing_secret(mut self, secret: impl Into<String>) -> Self {
        self.signing_secret = Some(secret.into());
        self
    }

    /// Sets the Events API request URL the app's events are POSTed to (Slack).
    #[must_use]
    pub fn with_event_request_url(mut self, url: impl Into<String>) -> Self {
        self.event_request_url = Some(url.into());
        self
    }

    /// Sets the lifetime of the rotating access tokens (Slack), in seconds.
    #[must_use]
    pub fn with_access_token_ttl_secs(mut self, secs: u64) -> Self {
        self.access_token_ttl_secs = Some(secs);
        self
    }
}

/// Default Slack refresh-token grace period: 300 s (unconfirmed upstream; see the crate docs).
pub const DEFAULT_SLACK_REFRESH_GRACE_SECS: u64 = 300;

/// Client id of the default Notion app.
pub const DEFAULT_NOTION_CLIENT_ID: &str = "463558a3-725e-4f37-b6d3-0889894f68de";
/// Client secret of the default Notion app.
pub const DEFAULT_NOTION_CLIENT_SECRET: &str = "secret_sandboxNotionClientSecret000000000000000";
/// Redirect URIs of the default Notion app (the loopback one matches any port).
pub const DEFAULT_NOTION_REDIRECT_URIS: &[&str] = &[
    "http://127.0.0.1/callback/notion",
    "https://example.com/auth/notion/callback",
];
/// Client id of the default Slack app.
pub const DEFAULT_SLACK_CLIENT_ID: &str = "2141029472.691202649728";
/// Client secret of the default Slack app.
pub const DEFAULT_SLACK_CLIENT_SECRET: &str = "3a6f5e1c9b2d4e7f8a0b1c2d3e4f5a6b";
/// Signing secret of the default Slack app (and of every [`App::slack`] until changed): the
/// key of its events' `X-Slack-Signature`.
pub const DEFAULT_SLACK_SIGNING_SECRET: &str = "5b1e7c3d9a2f4e6b8c0d1e2f3a4b5c6d";
/// Slack app id of the default Slack app.
pub const DEFAULT_SLACK_APP_ID: &str = "A0SANDBOX01";
/// Redirect URIs of the default Slack app (the loopback one matches any port).
pub const DEFAULT_SLACK_REDIRECT_URIS: &[&str] = &[
    "http://127.0.0.1/callback/slack",
    "https://example.com/auth/slack/callback",
];

/// The default apps registered unless [`crate::SandboxBuilder::without_default_apps`] is used:
/// a Notion app and a Slack app with token rotation enabled.
pub fn default_apps() -> Vec<App> {
    vec![
        App::notion(
            DEFAULT_NOTION_CLIENT_ID,
            DEFAULT_NOTION_CLIENT_SECRET,
            DEFAULT_NOTION_REDIRECT_URIS,
        ),
        App::slack(
            DEFAULT_SLACK_CLIENT_ID,
            DEFAULT_SLACK_CLIENT_SECRET,
            DEFAULT_SLACK_APP_ID,
            DEFAULT_SLACK_REDIRECT_URIS,
        )
        .with_rotation(true),
    ]
}

/// What a fault does to a request.
///
/// JSON form: `{"kind":"rate_limited","retry_after_secs":2}`, `{"kind":"status","status":503}`,
/// `{"kind":"delay","millis":250}`, `{"kind":"drop_before_processing"}`, ….
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// HTTP 429 with `Retry-After`; Slack body `{"ok":false,"error":"ratelimited"}`, Notion
    /// envelope `rate_limited`. Not processed.
    RateLimited {
        /// `Retry-After` value in seconds.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// Slack's other rate-limit form: HTTP **200** with `{"ok":false,"error":"ratelimited"}` and
    /// `Retry-After` (seen on `oauth.access`). On Notion paths the same as `rate_limited`. Not
    /// processed.
    RateLimitedInBody {
        /// `Retry-After` value in seconds.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// An HTTP error status (500, 503, 529…) with the provider's error body. Not processed.
    Status {
        /// The status code.
        status: u16,
    },
    /// Sleep, then process and answer normally.
    Delay {
        /// Delay in milliseconds.
        millis: u64,
    },
    /// Close the connection without processing the request or sending any byte.
    DropBeforeProcessing,
    /// Process the request (state changes happen, e.g. a refresh token is spent), then close the
    /// connection without sending any byte: a lost response.
    DropAfterProcessing,
    /// HTTP 200 with `application/json` but a JSON document cut in the middle. Not processed.
    TruncatedJson,
    /// HTTP 502 with an HTML error page (as an edge proxy sends). Not processed.
    Html502,
    /// HTTP 200 with a valid-looking JSON body larger than 1 MiB. Not processed.
    Oversized,
    /// Process normally, but serve the JSON body as `text/html; charset=utf-8`.
    WrongContentType,
    /// A well-formed provider error with the undocumented code `sandbox_undocumented_error`
    /// (Slack: HTTP 200 `ok:false`; Notion: HTTP 400 envelope). Not processed.
    UnknownErrorCode,
}

const fn one() -> u64 {
    1
}

impl FaultKind {
    /// Short name used in the request log (`rate_limited`, `drop_after_processing`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::RateLimitedInBody { .. } => "rate_limited_in_body",
            Self::Status { .. } => "status",
            Self::Delay { .. } => "delay",
            Self::DropBeforeProcessing => "drop_before_processing",
            Self::DropAfterProcessing => "drop_after_processing",
            Self::TruncatedJson => "truncated_json",
            Self::Html502 => "html502",
            Self::Oversized => "oversized",
            Self::WrongContentType => "wrong_content_type",
            Self::UnknownErrorCode => "unknown_error_code",
        }
    }
}

/// A fault applied to the next `count` requests to `path` (exact path, e.g. `/v1/oauth/token`
/// or `/api/oauth.v2.access`). Faults for one path queue up in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Exact request path.
    pub path: String,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it applies to.
    #[serde(default = "one_u32")]
    pub count: u32,
}

const fn one_u32() -> u32 {
    1
}

impl Fault {
    /// A fault for the next request to `path`.
    pub fn new(path: impl Into<String>, kind: FaultKind) -> Self {
        Self {
            path: path.into(),
            kind,
            count: 1,
        }
    }

    /// Applies it to the next `count` requests instead of one.
    #[must_use]
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}

/// One request received on a provider path, exactly as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sequence number (1-based, over the sandbox's lifetime).
    pub seq: u64,
    /// Sandbox clock (Unix seconds) when it arrived.
    pub time: i64,
    /// HTTP method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// All headers (names lower-case, grouped by name in order of first appearance; repeated
    /// headers keep their order; non-UTF-8 values lossily converted).
    pub headers: Vec<(String, String)>,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// The raw `Content-Type` header.
    pub content_type: Option<String>,
    /// The raw body bytes (base64 in the JSON form), cut at the log's
    /// [`Limits::request_log_body_bytes`](crate::Limits::request_log_body_bytes).
    #[serde(with = "b64")]
    pub body: Vec<u8>,
    /// The length of the body received (more than `body.len()` when the log cut it).
    #[serde(default)]
    pub body_len: usize,
    /// Provider of the path.
    pub provider: Option<Provider>,
    /// Client id the request was attributed to, if any.
    pub app: Option<String>,
    /// Operation, e.g. `notion.token.refresh_token`, `slack.oauth.v2.access.refresh_token`,
    /// `slack.auth.test`.
    pub operation: Option<String>,
    /// HTTP status returned; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// Name of the fault applied, if any.
    pub fault: Option<String>,
}

impl RecordedRequest {
    /// Whether the log kept only the start of the body.
    pub fn body_truncated(&self) -> bool {
        self.body_len > self.body.len()
    }

    /// The body as UTF-8 text, if it is.
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (in order).
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    /// The body parsed as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(serde::de::Error::custom)
    }
}

/// Requests and successes of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCount {
    /// Requests that reached processing (faults answered before processing are not counted).
    pub requests: u64,
    /// Of which succeeded (2xx/302 and, for Slack, `ok:true`).
    pub succeeded: u64,
}

/// Counters since start (or the last reset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Requests on provider paths (including faulted ones).
    pub total_requests: u64,
    /// Requests per path.
    pub per_path: BTreeMap<String, u64>,
    /// Per operation, over all apps.
    pub per_operation: BTreeMap<String, OpCount>,
    /// Per client id, then per operation.
    pub per_app: BTreeMap<String, BTreeMap<String, OpCount>>,
    /// Slack refresh requests answered by replaying an already minted pair (grace period), per
    /// client id; also counted as refresh grants above.
    pub refresh_replays: BTreeMap<String, u64>,
    /// Faults applied, per fault name.
    pub faults_applied: BTreeMap<String, u64>,
}

impl Counters {
    /// Requests of `operation` by the app `client_id` (0 if none).
    pub fn app_op(&self, client_id: &str, operation: &str) -> u64 {
        self.per_app
            .get(client_id)
            .and_then(|m| m.get(operation))
            .map_or(0, |c| c.requests)
    }

    /// Requests of `operation` over all apps (0 if none).
    pub fn op(&self, operation: &str) -> u64 {
        self.per_operation.get(operation).map_or(0, |c| c.requests)
    }

    /// Requests to `path` (0 if none).
    pub fn path(&self, path: &str) -> u64 {
        self.per_path.get(path).copied().unwrap_or(0)
    }
}

/// An external (third-party) token stored by Slack for `apps.auth.external.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalToken {
    /// Token id, e.g. `Et0SANDBOX01`.
    pub external_token_id: String,
    /// Slack client id of the app owning it.
    pub client_id: String,
    /// Provider key, e.g. `salesforce`.
    pub provider_key: String,
    /// The token value returned by `apps.auth.external.get`.
    pub external_token: String,
}

/// Result of running an authorize URL without a browser ([`crate::Control::authorize`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeOutcome {
    /// HTTP status the browser would get (302 or 400).
    pub status: u16,
    /// `Location` of the redirect, if any.
    pub location: Option<String>,
    /// The `code` in the redirect, if any.
    pub code: Option<String>,
    /// The `state` in the redirect, if any.
    pub state: Option<String>,
    /// The `error` in the redirect, or the error shown on the error page.
    pub error: Option<String>,
}

/// What the sandbox holds now, against its [`Limits`](crate::Limits) (`GET /_sandbox/stats`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Authorization codes remembered (live, or dead for less than the retention).
    pub codes: usize,
    /// Tokens remembered (live, or dead for less than the retention).
    pub tokens: usize,
    /// Grants that a token still leads to.
    pub grants: usize,
    /// Slack installations (one per app and team or org; kept until [`crate::Control::reset`]).
    pub installations: usize,
    /// Requests in the log.
    pub log_entries: usize,
    /// Body bytes kept in the log.
    pub log_body_bytes: usize,
    /// Connections open now.
    pub connections_open: usize,
    /// The most connections open at once so far.
    pub connections_peak: usize,
    /// Connections refused (503) because `max_connections` were open.
    pub connections_refused: u64,
    /// Events in the delivery log.
    #[serde(default)]
    pub event_log_entries: usize,
    /// Events being delivered now (their retries included).
    #[serde(default)]
    pub events_pending: usize,
}
