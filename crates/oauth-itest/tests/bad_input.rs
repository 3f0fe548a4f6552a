//! Bad input at the edges, over real HTTP on loopback against oauth-sandbox, for both providers:
//!
//! 1. the install flow's callback route (axum on `127.0.0.1:0`) given malformed, forged,
//!    replayed, duplicated, non-UTF-8, oversized and error callbacks (the table in
//!    [`callback_cases`], then what hyper itself answers for what never reaches the route);
//! 2. wrong redirect URIs: the client builders, `ProviderConfig`, the install flow, URL building
//!    and code exchanges refuse relative ones, fragments, whitespace and plain `http` off
//!    loopback, and accept https, loopback http and custom schemes (the table [`REDIRECTS`]); the
//!    sandbox's authorize endpoint refuses an unregistered one; a code exchanged with another
//!    redirect URI than it was issued for is refused with each provider's typed error;
//! 3. plain-`http` endpoints off loopback refused unless explicitly allowed, and other schemes
//!    refused always (the table [`ENDPOINTS`]).
//!
//! Every refusal is checked for its exact status or typed error and the key words of its message;
//! and that no token was stored and no secret (client secret, code, token, state) is in the
//! answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_facade::error::CallbackError;
use oauth_facade::install::InstallFlow;
use oauth_facade::notion::{NotionClient, NotionError};
use oauth_facade::sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, Sandbox, SandboxHandle,
};
use oauth_facade::slack::{SlackClient, SlackError};
use oauth_facade::{
    AccessToken, AuthorizationCode, AuthorizationRequest, CodeExchange, Error, ErrorKind,
    ManualClock, MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager,
    TokenProvider, TokenStore,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const KINDS: [ProviderKind; 2] = [ProviderKind::Notion, ProviderKind::Slack];

/// No answer may take longer than this: a hang fails the test instead of stalling it.
const PATIENCE: Duration = Duration::from_secs(20);

fn client_secret(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Notion => DEFAULT_NOTION_CLIENT_SECRET,
        _ => DEFAULT_SLACK_CLIENT_SECRET,
    }
}

/// Where each provider's code exchange arrives at the sandbox.
fn token_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Notion => "/v1/oauth/token",
        _ => "/api/oauth.v2.access",
    }
}

fn scopes(kind: ProviderKind) -> Scopes {
    match kind {
        ProviderKind::Notion => Scopes::new(),
        _ => Scopes::parse("chat:write,commands"),
    }
}

/// A browser that does not follow redirects, so that each hop can be looked at.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

/// An HTTP answer, as a browser gets it.
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

impl Answer {
    async fn of(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let body = response.text().await.unwrap();
        Self {
            status,
            headers,
            body,
        }
    }

    /// The page's text with the install flow's HTML escaping undone.
    fn text(&self) -> String {
        self.body
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    fn assert_holds_none_of(&self, secrets: &[String], case: &str) {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !self.body.contains(secret.as_str()) && !self.headers.contains(secret.as_str()),
                "{case}: the answer shows a secret: {}",
                self.body
            );
        }
    }
}

/// One provider's app: the install flow served on its own loopback port, over a memory store,
/// with states kept on a manual clock.
struct App {
    kind: ProviderKind,
    base: String,
    callback: String,
    flow: InstallFlow,
    manager: TokenManager,
    store: Arc<MemoryTokenStore>,
    state_clock: Arc<ManualClock>,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("/callback/{kind}");
    let redirect_uri = format!("{base}{callback}");
    let provider = ProviderConfig::sandbox(kind, sandbox.base_url())
        .redirect_uri(redirect_uri.clone())
        .build()
        .unwrap();
    let store = Arc::new(MemoryTokenStore::new());
    let manager = TokenManager::builder(provider, store.clone())
        .build()
        .unwrap();
    let state_clock = Arc::new(ManualClock::new(SystemTime::now()));
    let flow = InstallFlow::builder(manager.clone(), redirect_uri)
        .scopes(scopes(kind))
        .clock(state_clock.clone())
        .build()
        .unwrap();
    let router = flow.router("/install", &callback);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        kind,
        base,
        callback,
        flow,
        manager,
        store,
        state_clock,
    }
}

/// A real authorization in progress: the `state` our install route issued, the cookie it bound
/// the state to, and the `code` the sandbox sent back with it (not yet delivered to the callback).
struct Fresh {
    state: String,
    code: String,
    /// `name=value`, as the browser sends it back.
    cookie: String,
}

impl Fresh {
    /// The browser's secret, the cookie's value.
    fn cookie_secret(&self) -> &str {
        self.cookie.split_once('=').map_or("", |(_, value)| value)
    }

    /// The headers of the browser that started this authorization (its cookie).
    fn headers(&self) -> reqwest::header::HeaderMap {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::COOKIE, self.cookie.parse().unwrap());
        headers
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

impl App {
    async fn fresh(&self) -> Fresh {
        let to_provider = browser()
            .get(format!("{}/install", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(to_provider.status(), 302, "{}: install", self.kind);
        let set_cookie = to_provider.headers()["set-cookie"].to_str().unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let consent = browser().get(location(&to_provider)).send().await.unwrap();
        assert_eq!(consent.status(), 302, "{}: consent", self.kind);
        let back = url::Url::parse(&location(&consent)).unwrap();
        assert_eq!(
            back.as_str().split('?').next(),
            Some(format!("{}{}", self.base, self.callback).as_str())
        );
        let get = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        Fresh {
            state: get("state"),
            code: get("code"),
            cookie,
        }
    }

    /// `GET <callback>` with `query` after a `?`, or without any query string, from the browser
    /// that started `fresh`.
    async fn callback(&self, fresh: &Fresh, query: Option<&str>) -> Answer {
        let url = match query {
            Some(query) => format!("{}{}?{query}", self.base, self.callback),
            None => format!("{}{}", self.base, self.callback),
        };
        let request = browser().get(url).headers(fresh.headers());
        Answer::of(request.send().await.unwrap()).await
    }

    fn exchanges_sent(&self, sandbox: &SandboxHandle) -> u64 {
        sandbox.control().counters().path(token_path(self.kind))
    }

    async fn assert_nothing_stored(&self, case: &str) {
        assert!(
            self.manager.list().await.unwrap().is_empty(),
            "{}: {case}: an installation was saved",
            self.kind
        );
    }
}

/// What `InstallFlow::finish` must fail with.
#[derive(Debug)]
enum Want {
    Callback(CallbackError),
    Denied(&'static str),
    /// The provider refused the code: the kind, then Notion's and Slack's error code.
    Provider(ErrorKind, &'static str, &'static str),
}

impl Want {
    /// The provider's error code `kind`'s provider must answer with, if the provider answers.
    fn provider_code(&self, kind: ProviderKind) -> Option<&'static str> {
        match (self, kind) {
            (Want::Provider(_, notion, _), ProviderKind::Notion) => Some(notion),
            (Want::Provider(_, _, slack), _) => Some(slack),
            _ => None,
        }
    }
}

struct Case {
    name: &'static str,
    /// The query string (`None`: no `?` at all), from a fresh authorization.
    query: fn(&Fresh) -> Option<String>,
    /// Whether the state has expired (the authorization took longer than its time to live).
    stale: bool,
    error: Want,
    status: u16,
    /// Words the error's message, and so the page, must hold.
    words: &'static [&'static str],
}

/// A percent-encoded 7,000-character `error_description` (the query stays under 8 KiB).
fn long_description() -> String {
    "The+user+pressed+Cancel.+".repeat(280)
}

/// The advice every callback refusal ends with.
const UNTRUSTED: &str = "start the authorization again";

fn callback_cases() -> Vec<Case> {
    use CallbackError::*;
    vec![
        Case {
            name: "no query string",
            query: |_| None,
            stale: false,
            error: Want::Callback(MissingCode),
            status: 400,
            words: &["neither `code` nor `error`", UNTRUSTED],
        },
        Case {
            name: "an empty query string",
            query: |_| Some(String::new()),
            stale: false,
            error: Want::Callback(MissingCode),
            status: 400,
            words: &["neither `code` nor `error`"],
        },
        Case {
            name: "names without values",
            query: |_| Some("code&state&&=".into()),
            stale: false,
            error: Want::Callback(MissingCode),
            status: 400,
            words: &["neither `code` nor `error`"],
        },
        Case {
            name: "no state",
            query: |f| Some(format!("code={}", f.code)),
            stale: false,
            error: Want::Callback(MissingState),
            status: 400,
            words: &["no `state` parameter", UNTRUSTED],
        },
        Case {
            name: "an empty state",
            query: |f| Some(format!("code={}&state=", f.code)),
            stale: false,
            error: Want::Callback(MissingState),
            status: 400,
            words: &["no `state` parameter, or an empty one"],
        },
        Case {
            name: "a forged state",
            query: |f| Some(format!("code={}&state=forged-{}", f.code, f.state.len())),
            stale: false,
            error: Want::Callback(UnknownState),
            status: 400,
            words: &["`state` is unknown", UNTRUSTED],
        },
        Case {
            name: "an expired state",
            query: |f| Some(format!("code={}&state={}", f.code, f.state)),
            stale: true,
            error: Want::Callback(ExpiredState { ttl_secs: 600 }),
            status: 400,
            words: &["`state` has expired", "longer than 600s"],
        },
        Case {
            name: "a repeated code",
            query: |f| Some(format!("code={}&code=other&state={}", f.code, f.state)),
            stale: false,
            error: Want::Callback(DuplicateParameter("code".into())),
            status: 400,
            words: &["repeats the `code` parameter"],
        },
        Case {
            name: "a repeated state",
            query: |f| {
                Some(format!(
                    "code={}&state={}&state={}",
                    f.code, f.state, f.state
                ))
            },
            stale: false,
            error: Want::Callback(DuplicateParameter("state".into())),
            status: 400,
            words: &["repeats the `state` parameter"],
        },
        Case {
            name: "a code that is not UTF-8 once percent-decoded",
            query: |f| Some(format!("code=%ff%fe&state={}", f.state)),
            stale: false,
            error: Want::Callback(NotUtf8("code".into())),
            status: 400,
            words: &["`code` parameter is not valid UTF-8"],
        },
        Case {
            name: "a state that is not UTF-8 once percent-decoded",
            query: |f| Some(format!("code={}&state=%ff%fe", f.code)),
            stale: false,
            error: Want::Callback(NotUtf8("state".into())),
            status: 400,
            words: &["`state` parameter is not valid UTF-8"],
        },
        Case {
            name: "a query over 8 KiB",
            query: |f| {
                Some(format!(
                    "code={}&state={}&pad={}",
                    f.code,
                    f.state,
                    "a".repeat(9000)
                ))
            },
            stale: false,
            error: Want::Callback(TooLong { limit: 8192 }),
            status: 400,
            words: &["query exceeds 8192 bytes"],
        },
        Case {
            name: "a refusal (error=access_denied) with the state",
            query: |f| Some(format!("error=access_denied&state={}", f.state)),
            stale: false,
            error: Want::Denied("access_denied"),
            status: 400,
            words: &[
                "authorization refused: `access_denied`",
                "refused the authorization",
            ],
        },
        Case {
            // Unverified, so not shown as the provider's word: it could be anyone's link.
            name: "a refusal without a state",
            query: |_| Some("error=access_denied".into()),
            stale: false,
            error: Want::Callback(MissingState),
            status: 400,
            words: &["no `state` parameter"],
        },
        Case {
            name: "a refusal with a long error_description",
            query: |f| {
                Some(format!(
                    "error=access_denied&error_description={}&state={}",
                    long_description(),
                    f.state
                ))
            },
            stale: false,
            error: Want::Denied("access_denied"),
            status: 400,
            words: &[
                "`access_denied`: The user pressed Cancel.",
                "(6700 more characters)",
            ],
        },
        Case {
            name: "both a code and an error",
            query: |f| {
                Some(format!(
                    "code={}&error=access_denied&state={}",
                    f.code, f.state
                ))
            },
            stale: false,
            error: Want::Denied("access_denied"),
            status: 400,
            words: &["authorization refused: `access_denied`"],
        },
        Case {
            name: "a verified state with a code the provider never issued",
            query: |f| {
                Some(format!(
                    "code=forged-code-{}&state={}",
                    f.code.len(),
                    f.state
                ))
            },
            stale: false,
            error: Want::Provider(
                ErrorKind::ReauthorizationRequired,
                "invalid_grant",
                "invalid_code",
            ),
            status: 400,
            words: &[],
        },
    ]
}

fn check_error(kind: ProviderKind, case: &Case, error: &Error) {
    let name = case.name;
    match (&case.error, error) {
        (Want::Callback(want), Error::InvalidCallback(got)) => {
            assert_eq!(got, want, "{kind}: {name}");
            assert_eq!(error.kind(), ErrorKind::InvalidCallback);
        }
        (Want::Denied(want), Error::AuthorizationDenied { error: got, .. }) => {
            assert_eq!(got, want, "{kind}: {name}");
            assert_eq!(error.kind(), ErrorKind::AuthorizationDenied);
        }
        (Want::Provider(want, ..), Error::Provider(got)) => {
            assert_eq!(got.kind(), *want, "{kind}: {name}: {error}");
            let code = case.error.provider_code(kind).unwrap_or_default();
            assert_eq!(got.code(), code, "{kind}: {name}: {error}");
            assert!(error.to_string().contains(code), "{kind}: {name}: {error}");
        }
        (want, got) => panic!("{kind}: {name}: expected {want:?}, got {got:?}"),
    }
    let message = error.to_string();
    for words in case.words {
        assert!(message.contains(words), "{kind}: {name}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_callback_is_refused_clearly_and_saves_nothing() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        for case in callback_cases() {
            let name = case.name;
            let sent_before = app.exchanges_sent(&sandbox);

            // Through the route, as a browser comes back.
            let fresh = app.fresh().await;
            if case.stale {
                app.state_clock.advance(Duration::from_secs(601));
            }
            let query = (case.query)(&fresh);
            let answer = app.callback(&fresh, query.as_deref()).await;
            assert_eq!(
                answer.status, case.status,
                "{kind}: {name}: {}",
                answer.body
            );
            assert!(
                answer.body.contains("Installation failed"),
                "{kind}: {name}"
            );
            let page = answer.text();
            for words in case.words {
                assert!(
                    page.contains(words),
                    "{kind}: {name}: the page lacks {words:?}: {page}"
                );
            }
            if let Some(code) = case.error.provider_code(kind) {
                assert!(
                    page.contains(code),
                    "{kind}: {name}: the page lacks {code}: {page}"
                );
            }
            assert!(
                answer.body.len() < 2_000,
                "{kind}: {name}: a {} byte page",
                answer.body.len()
            );
            let secrets = [
                client_secret(kind).to_owned(),
                fresh.code.clone(),
                fresh.state.clone(),
                fresh.cookie_secret().to_owned(),
            ];
            answer.assert_holds_none_of(&secrets, name);

            // Through `InstallFlow::finish`, for the typed error.
            let fresh = app.fresh().await;
            if case.stale {
                app.state_clock.advance(Duration::from_secs(601));
            }
            let query = (case.query)(&fresh);
            let error = app
                .flow
                .finish_bound(query.as_deref().unwrap_or(""), &fresh.headers())
                .await
                .unwrap_err();
            check_error(kind, &case, &error);
            let shown = format!("{error} {error:?}");
            for secret in [
                client_secret(kind),
                &fresh.code,
                &fresh.state,
                fresh.cookie_secret(),
            ] {
                assert!(!shown.contains(secret), "{kind}: {name}: {shown}");
            }

            app.assert_nothing_stored(name).await;
            // Only a code that passed every callback check is ever sent to the provider.
            let sent = app.exchanges_sent(&sandbox) - sent_before;
            let expected = if case.error.provider_code(kind).is_some() {
                2
            } else {
                0
            };
            assert_eq!(sent, expected, "{kind}: {name}: code exchanges sent");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_is_refused_and_changes_nothing() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        let fresh = app.fresh().await;
        let query = format!("code={}&state={}", fresh.code, fresh.state);
        let first = app.callback(&fresh, Some(&query)).await;
        assert_eq!(first.status, 200, "{kind}: {}", first.body);
        let keys = app.manager.list().await.unwrap();
        assert_eq!(keys.len(), 1, "{kind}");
        let saved = app.store.get(&keys[0]).await.unwrap().unwrap();
        let mut secrets = vec![
            client_secret(kind).to_owned(),
            fresh.code.clone(),
            fresh.state.clone(),
            saved.tokens.access_token.expose_secret().to_owned(),
        ];
        secrets.extend(
            saved
                .tokens
                .refresh_token
                .iter()
                .map(|t| t.expose_secret().to_owned()),
        );
        first.assert_holds_none_of(&secrets, "the first callback");

        let exchanges = app.exchanges_sent(&sandbox);
        let replay = app.callback(&fresh, Some(&query)).await;
        assert_eq!(replay.status, 400, "{kind}");
        assert!(
            replay.text().contains("`state` was already used"),
            "{kind}: {}",
            replay.body
        );
        replay.assert_holds_none_of(&secrets, "the replay");
        let error = app
            .flow
            .finish_bound(&query, &fresh.headers())
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidCallback(CallbackError::ReplayedState)),
            "{kind}: {error:?}"
        );
        assert_eq!(
            app.exchanges_sent(&sandbox),
            exchanges,
            "{kind}: not resent"
        );
        let after = app.store.get(&keys[0]).await.unwrap().unwrap();
        assert_eq!(
            after.version, saved.version,
            "{kind}: the installation is untouched"
        );
        assert_eq!(app.manager.list().await.unwrap().len(), 1, "{kind}");
    }
}

/// Sends `target` as the request target of a raw HTTP/1.1 request (bytes as given, which no HTTP
/// client library would send) and returns the status and the whole answer.
async fn raw_get(base: &str, target: &[u8]) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    // Written alongside the read: the server may answer (and close) before reading it all.
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PATIENCE, async {
        let mut buf = [0u8; 8192];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "no answer within {PATIENCE:?}: the server hangs"
    );
    drop(write.await);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_raw_byte_callbacks_get_a_clean_4xx_from_the_http_stack() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        let fresh = app.fresh().await;
        let callback = |query: &[u8]| {
            let mut target = format!("{}?", app.callback).into_bytes();
            target.extend_from_slice(query);
            target
        };
        let padded = |bytes: usize| {
            let query = format!("code={}&state={}&pad=", fresh.code, fresh.state);
            let pad = bytes.saturating_sub(query.len());
            callback(format!("{query}{}", "a".repeat(pad)).as_bytes())
        };
        // (what, request target, status, words of our page; `None`: hyper answers itself, with
        // an empty body, before any route runs)
        let cases: [(&str, Vec<u8>, u16, Option<&str>); 4] = [
            // Reaches the route: refused by the callback parser.
            (
                "a 60 KiB query",
                padded(60 * 1024),
                400,
                Some("query exceeds 8192 bytes"),
            ),
            // Longer than an `http::Uri` can be (65,534 bytes).
            ("a 64 KiB query", padded(64 * 1024), 414, None),
            // Longer than hyper's read buffer (about 400 KiB).
            ("a 1 MiB query", padded(1024 * 1024), 431, None),
            // Bytes that are not UTF-8 (nor URI characters) in the request line: hyper refuses
            // them, so the route never sees them.
            (
                "raw non-UTF-8 bytes",
                callback(&[b"code=\xff\xfe&state=", fresh.state.as_bytes()].concat()),
                400,
                None,
            ),
        ];
        for (what, target, status, words) in cases {
            let (got, answer) = raw_get(&app.base, &target).await;
            assert_eq!(got, status, "{kind}: {what}: {answer}");
            match words {
                Some(words) => assert!(
                    answer.contains("Installation failed") && answer.contains(words),
                    "{kind}: {what}: {answer}"
                ),
                None => assert!(
                    answer.contains("\r\ncontent-length: 0\r\n") && answer.ends_with("\r\n\r\n"),
                    "{kind}: {what}: {answer}"
                ),
            }
            assert!(!answer.contains(&fresh.state) && !answer.contains(&fresh.code));
        }
        // The server is still up and the state unspent: the real callback installs.
        let ok = app
            .callback(
                &fresh,
                Some(&format!("code={}&state={}", fresh.code, fresh.state)),
            )
            .await;
        assert_eq!(ok.status, 200, "{kind}: {}", ok.body);
    }
}

/// Redirect URIs: `None` must be accepted, `Some(words)` refused as a configuration error whose
/// message holds `words`. The flag is the client's `allow_insecure_http`.
const REDIRECTS: &[(&str, bool, Option<&str>)] = &[
    ("https://example.com/auth/callback", false, None),
    ("https://example.com/auth/callback?tenant=7", false, None),
    ("http://127.0.0.1:8765/callback", false, None),
    ("http://[::1]:8765/callback", false, None),
    ("http://localhost:8765/callback", false, None),
    ("myapp://oauth/callback", false, None),
    ("http://app.example/callback", true, None),
    ("/callback", false, Some("is not an absolute URL")),
    ("callback?x=1", true, Some("is not an absolute URL")),
    (
        "localhost:8765/callback",
        false,
        Some("is not a hierarchical URL"),
    ),
    (
        "https://example.com/callback#done",
        false,
        Some("has a fragment"),
    ),
    ("https://example.com/callback#done", true, Some("RFC 6749")),
    (
        "http://app.example/callback",
        false,
        Some("plain http on `app.example`, which is not a loopback host"),
    ),
    ("http://192.168.1.20/callback", false, Some("unencrypted")),
    ("https://example.com/callback\n", false, Some("whitespace")),
    ("", false, Some("is empty")),
];

/// Every place a redirect URI enters, for both providers; `Ok(())` if it was accepted.
async fn redirect_entry_points(
    sandbox: &SandboxHandle,
    uri: &str,
    insecure: bool,
) -> Vec<(String, Result<(), Error>)> {
    let base = sandbox.base_url();
    let mut results = Vec::new();
    for kind in KINDS {
        let mut config = ProviderConfig::sandbox(kind, base);
        config.redirect_uri = None;
        config.allow_insecure_http = insecure;
        let provider = config.build().unwrap();

        let mut with_default = config.clone();
        with_default.redirect_uri = Some(uri.to_owned());
        results.push((
            format!("{kind}: ProviderConfig::build"),
            with_default.build().map(drop),
        ));

        // Slack with PKCE, so that a custom scheme is judged on the URI alone (Slack takes one
        // only with PKCE: `slack_refuses_a_custom_scheme_redirect_without_pkce`); Notion has none.
        let pkce = kind == ProviderKind::Slack;
        let mut request = AuthorizationRequest::new()
            .unwrap()
            .scopes(scopes(kind))
            .redirect_uri(uri);
        if pkce {
            request = request.with_pkce().unwrap();
        }
        results.push((
            format!("{kind}: authorization_url"),
            provider.authorization_url(&request).map(drop),
        ));

        let manager = TokenManager::builder(provider.clone(), Arc::new(MemoryTokenStore::new()))
            .build()
            .unwrap();
        results.push((
            format!("{kind}: InstallFlowBuilder::build"),
            InstallFlow::builder(manager, uri)
                .scopes(scopes(kind))
                .pkce(pkce)
                .build()
                .map(drop),
        ));

        // A code exchange is checked before anything is sent: a refused one never reaches the
        // sandbox (an accepted one does, and fails there on its made-up code).
        let sent = sandbox.control().counters().path(token_path(kind));
        let exchange = provider
            .exchange_code(
                CodeExchange::new(AuthorizationCode::new("made-up-code")).redirect_uri(uri),
            )
            .await;
        let reached = sandbox.control().counters().path(token_path(kind)) > sent;
        let refused_here = exchange
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Configuration && e.provider_error().is_none());
        assert_eq!(
            reached, !refused_here,
            "{kind}: exchange with {uri:?}: {exchange:?}"
        );
        results.push((
            format!("{kind}: exchange_code"),
            match exchange {
                Err(error) if refused_here => Err(error),
                _ => Ok(()),
            },
        ));
    }
    results.push((
        "NotionClient::builder".into(),
        NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
            .redirect_uri(uri)
            .allow_insecure_http(insecure)
            .build()
            .map(drop),
    ));
    let slack = |secret: bool| {
        let builder = SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
            .redirect_uri(uri)
            .allow_insecure_http(insecure);
        let builder = match secret {
            true => builder.client_secret(DEFAULT_SLACK_CLIENT_SECRET),
            false => builder,
        };
        builder.build()
    };
    results.push(("SlackClient::builder".into(), slack(true).map(drop)));
    results.push(("SlackClient::builder (PKCE)".into(), slack(false).map(drop)));
    let bare = SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
        .allow_insecure_http(insecure)
        .build()
        .unwrap();
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(Scopes::parse("openid"))
        .redirect_uri(uri)
        .with_pkce()
        .unwrap();
    results.push((
        "Slack openid_connect_authorize_url".into(),
        bare.openid_connect_authorize_url(&request).map(drop),
    ));
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_redirect_uris_are_refused_wherever_they_enter() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for (uri, insecure, refused) in REDIRECTS {
        for (entry, result) in redirect_entry_points(&sandbox, uri, *insecure).await {
            match (refused, result) {
                (None, Ok(())) => {}
                (Some(words), Err(error)) => {
                    let message = error.to_string();
                    assert_eq!(error.kind(), ErrorKind::Configuration, "{entry}: {message}");
                    assert!(
                        message.contains("redirect URI") && message.contains(words),
                        "{entry} with {uri:?}: {message}"
                    );
                    for secret in [DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_SECRET] {
                        assert!(!message.contains(secret), "{entry}: {message}");
                    }
                }
                (refused, result) => panic!(
                    "{entry} with {uri:?} (insecure http allowed: {insecure}): expected refusal {refused:?}, got {result:?}"
                ),
            }
        }
    }
}

/// Slack takes a custom-scheme redirect URI (`myapp://…`) only with PKCE: without it, the
/// authorization URL is refused here (not after the user reached Slack), and so is an install
/// flow at build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_refuses_a_custom_scheme_redirect_without_pkce() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let provider = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .build()
        .unwrap();
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(scopes(ProviderKind::Slack))
        .redirect_uri("myapp://oauth/callback");
    let error = provider.authorization_url(&request).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidRequest);
    assert!(error.to_string().contains("PKCE"), "{error}");
    assert!(
        provider
            .authorization_url(&request.with_pkce().unwrap())
            .is_ok()
    );
    let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    let flow = InstallFlow::builder(manager, "myapp://oauth/callback")
        .scopes(scopes(ProviderKind::Slack))
        .build();
    let error = flow.map(drop).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Configuration);
    assert!(error.to_string().contains("PKCE"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_refuses_an_unregistered_redirect_uri_at_authorize() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for (kind, code) in [
        (ProviderKind::Notion, "invalid_redirect_uri"),
        (ProviderKind::Slack, "bad_redirect_uri"),
    ] {
        let provider = ProviderConfig::sandbox(kind, sandbox.base_url())
            .build()
            .unwrap();
        let request = AuthorizationRequest::new()
            .unwrap()
            .scopes(scopes(kind))
            .redirect_uri("https://attacker.example/callback");
        let url = provider.authorization_url(&request).unwrap();
        let response = browser().get(url.as_str()).send().await.unwrap();
        assert!(
            response.headers().get("location").is_none(),
            "{kind}: never redirects to an unregistered URI"
        );
        assert_eq!(
            response.headers()["x-sandbox-error"].to_str().unwrap(),
            code,
            "{kind}"
        );
        let answer = Answer::of(response).await;
        assert_eq!(answer.status, 400, "{kind}");
        assert!(answer.body.contains(code), "{kind}: {}", answer.body);
        answer.assert_holds_none_of(&[client_secret(kind).to_owned()], "authorize");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_exchanged_with_another_redirect_uri_is_refused_by_each_provider() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    // (provider, its error code, the kind it maps to, words of the message)
    let expected = [
        (
            ProviderKind::Notion,
            "invalid_grant",
            ErrorKind::ReauthorizationRequired,
            "redirect_uri does not match",
        ),
        (
            ProviderKind::Slack,
            "bad_redirect_uri",
            ErrorKind::Configuration,
            "bad_redirect_uri",
        ),
    ];
    for (kind, code, error_kind, words) in expected {
        let app = app(&sandbox, kind).await;
        let issued_for = format!("{}{}", app.base, app.callback);

        // First a redirect URI refused before sending: the code is not spent...
        let fresh = app.fresh().await;
        let sent = app.exchanges_sent(&sandbox);
        let refused = app
            .manager
            .exchange_and_save(
                CodeExchange::new(AuthorizationCode::new(fresh.code.clone()))
                    .redirect_uri(format!("{issued_for}#fragment")),
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused.kind(),
            ErrorKind::Configuration,
            "{kind}: {refused}"
        );
        assert_eq!(app.exchanges_sent(&sandbox), sent, "{kind}: nothing sent");

        // ...then a valid but different one: the provider refuses the code.
        let error = app
            .manager
            .exchange_and_save(
                CodeExchange::new(AuthorizationCode::new(fresh.code.clone()))
                    .redirect_uri("https://example.com/auth/other/callback"),
            )
            .await
            .unwrap_err();
        assert_eq!(app.exchanges_sent(&sandbox), sent + 1, "{kind}: sent once");
        assert_eq!(error.kind(), error_kind, "{kind}: {error}");
        let provider_error = error.provider_error().unwrap();
        assert_eq!(provider_error.code(), code, "{kind}");
        assert_eq!(
            provider_error.http_status().map(|s| s.as_u16()),
            Some(match kind {
                ProviderKind::Notion => 400,
                _ => 200,
            })
        );
        match kind {
            ProviderKind::Notion => assert!(provider_error.downcast_ref::<NotionError>().is_some()),
            _ => assert!(provider_error.downcast_ref::<SlackError>().is_some()),
        }
        let message = error.to_string();
        assert!(message.contains(words), "{kind}: {message}");
        for secret in [client_secret(kind), &fresh.code] {
            assert!(!message.contains(secret), "{kind}: {message}");
        }
        app.assert_nothing_stored("another redirect URI").await;
    }
}

/// Base URLs: `None` must be accepted, `Some(words)` refused as a configuration error whose
/// message holds `words`. The flag is `allow_insecure_http`.
const ENDPOINTS: &[(&str, bool, Option<&str>)] = &[
    ("https://api.example.com/", false, None),
    ("http://127.0.0.1:9/", false, None),
    ("http://127.8.9.10:9/", false, None),
    ("http://[::1]:9/", false, None),
    ("http://localhost:9/", false, None),
    ("http://api.example.com/", true, None),
    (
        "http://api.example.com/",
        false,
        Some(
            "refusing plain-http endpoint api.example.com: credentials would cross the network unencrypted",
        ),
    ),
    (
        "http://10.1.2.3:8080/",
        false,
        Some("allow insecure http explicitly"),
    ),
    (
        "ftp://api.example.com/",
        false,
        Some("unsupported URL scheme `ftp`"),
    ),
    (
        "ftp://api.example.com/",
        true,
        Some("unsupported URL scheme `ftp`"),
    ),
];

/// Every place a base URL enters; `Ok(())` if it was accepted.
fn endpoint_entry_points(url: &str, insecure: bool) -> Vec<(&'static str, Result<(), Error>)> {
    let notion = ProviderConfig::new(ProviderKind::Notion, DEFAULT_NOTION_CLIENT_ID)
        .client_secret(DEFAULT_NOTION_CLIENT_SECRET);
    let slack = ProviderConfig::new(ProviderKind::Slack, DEFAULT_SLACK_CLIENT_ID)
        .client_secret(DEFAULT_SLACK_CLIENT_SECRET);
    let with = |config: ProviderConfig| {
        let mut config = config;
        config.allow_insecure_http = insecure;
        config.build().map(drop)
    };
    vec![
        (
            "NotionClient base_url",
            NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
                .base_url(url)
                .allow_insecure_http(insecure)
                .build()
                .map(drop),
        ),
        (
            "SlackClient base_url",
            SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
                .client_secret(DEFAULT_SLACK_CLIENT_SECRET)
                .base_url(url)
                .allow_insecure_http(insecure)
                .build()
                .map(drop),
        ),
        (
            "SlackClient authorize_base_url",
            SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
                .authorize_base_url(url)
                .allow_insecure_http(insecure)
                .build()
                .map(drop),
        ),
        ("ProviderConfig notion base_url", with(notion.base_url(url))),
        (
            "ProviderConfig slack base_url",
            with(slack.clone().base_url(url)),
        ),
        (
            "ProviderConfig slack authorize_base_url",
            with(slack.authorize_base_url(url)),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_endpoints_off_loopback_are_refused_unless_allowed() {
    for (url, insecure, refused) in ENDPOINTS {
        for (entry, result) in endpoint_entry_points(url, *insecure) {
            match (refused, result) {
                (None, Ok(())) => {}
                (Some(words), Err(error)) => {
                    let message = error.to_string();
                    assert_eq!(error.kind(), ErrorKind::Configuration, "{entry}: {message}");
                    assert!(message.contains(words), "{entry} with {url}: {message}");
                    for secret in [DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_SECRET] {
                        assert!(!message.contains(secret), "{entry}: {message}");
                    }
                }
                (refused, result) => panic!(
                    "{entry} with {url} (insecure http allowed: {insecure}): expected refusal {refused:?}, got {result:?}"
                ),
            }
        }
    }

    // The loopback spellings are not only accepted: they work, over HTTP, against the sandbox
    // (which listens on 127.0.0.1 only, so `[::1]` is left to the table above).
    let sandbox = Sandbox::builder().start().await.unwrap();
    let port = sandbox.addr().port();
    for host in ["127.0.0.1", "localhost"] {
        for kind in KINDS {
            let provider = ProviderConfig::sandbox(kind, &format!("http://{host}:{port}"))
                .build()
                .unwrap();
            let info = provider
                .introspect(&AccessToken::new("not-a-token"))
                .await
                .unwrap_or_else(|e| panic!("{kind} via {host}: {e}"));
            assert!(!info.active, "{kind} via {host}");
        }
    }
}
