//! The install flow under attack, over loopback HTTP against oauth-sandbox, with cookie-keeping
//! clients as browser profiles (a profile is a cookie jar: two profiles are two browsers).
//!
//! - the install route's cookie, and its clearing at the callback;
//! - a second profile finishing the first profile's callback (login CSRF, installation fixation):
//!   refused with a clear page, the code not sent to the provider, and the state left to the
//!   browser it belongs to;
//! - 20,000 `GET /install` from another client while a user installs: nothing is stored, nothing
//!   evicted, the user's install succeeds;
//! - a callback after its state expired;
//! - the PKCE verifier, which never travels in a URL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_facade::install::{InstallFlow, MemoryUsedStates};
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::{
    ManualClock, MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager,
};

const KINDS: [ProviderKind; 2] = [ProviderKind::Notion, ProviderKind::Slack];

struct App {
    base: String,
    callback: String,
    manager: TokenManager,
    used: Arc<MemoryUsedStates>,
    clock: Arc<ManualClock>,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind) -> App {
    app_with(sandbox, kind, false).await
}

/// `kind`'s app; with `public`, a Slack public client (no secret, PKCE).
async fn app_with(sandbox: &SandboxHandle, kind: ProviderKind, public: bool) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("/callback/{kind}");
    let mut config =
        ProviderConfig::sandbox(kind, sandbox.base_url()).redirect_uri(format!("{base}{callback}"));
    if public {
        config.client_secret = None;
    }
    let manager = TokenManager::builder(config.build().unwrap(), Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let used = Arc::new(MemoryUsedStates::new().with_clock(clock.clone()));
    let mut flow = InstallFlow::builder(manager.clone(), format!("{base}{callback}"))
        .clock(clock.clone())
        .used_states(used.clone())
        .pkce(public);
    if kind == ProviderKind::Slack {
        flow = flow.scopes(Scopes::parse("chat:write"));
    }
    let router = flow.build().unwrap().router("/install", &callback);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        base,
        callback,
        manager,
        used,
        clock,
    }
}

/// Where each provider's code exchange arrives at the sandbox.
fn token_path(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Notion => "/v1/oauth/token",
        _ => "/api/oauth.v2.access",
    }
}

/// One browser profile: a cookie jar, and a client that stops at every redirect.
struct Profile {
    client: reqwest::Client,
}

impl Profile {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// Our install route, then the provider's consent: the callback URL the provider sends this
    /// browser back to (not yet followed), and the install route's `Set-Cookie`.
    async fn authorize(&self, app: &App) -> (String, String) {
        let install = self.get(&format!("{}/install", app.base)).await;
        assert_eq!(install.status(), 302);
        let set_cookie = install.headers()["set-cookie"].to_str().unwrap().to_owned();
        let consent = self.get(&location(&install)).await;
        assert_eq!(consent.status(), 302);
        (location(&consent), set_cookie)
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_install_route_binds_the_state_with_a_cookie_the_callback_clears() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        let browser = Profile::new();
        let (callback, set_cookie) = browser.authorize(&app).await;
        let attributes: Vec<&str> = set_cookie.split("; ").collect();
        assert!(attributes[0].starts_with("oauth_install="), "{set_cookie}");
        assert!(
            attributes[0].len() > "oauth_install=".len() + 40,
            "{set_cookie}"
        );
        assert_eq!(
            attributes[1..],
            [
                format!("Path={}", app.callback).as_str(),
                "Max-Age=600",
                "HttpOnly",
                "SameSite=Lax"
            ],
            "{kind}: loopback http, so not Secure"
        );
        let page = browser.get(&callback).await;
        assert_eq!(page.status(), 200, "{kind}");
        let cleared = page.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(
            cleared,
            format!(
                "oauth_install=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
                app.callback
            ),
            "{kind}"
        );
        assert_eq!(app.manager.list().await.unwrap().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn another_browser_cannot_finish_an_install_it_did_not_start() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        let attacker = Profile::new();
        let (callback, _) = attacker.authorize(&app).await;
        let exchanges = sandbox.control().counters().path(token_path(kind));

        // The victim, in a browser that never started an install, opens the attacker's link.
        let victim = Profile::new();
        let page = victim.get(&callback).await;
        assert_eq!(page.status(), 400, "{kind}");
        let text = page.text().await.unwrap();
        assert!(text.contains("Installation failed"), "{kind}: {text}");
        assert!(
            text.contains("without its browser cookie"),
            "{kind}: {text}"
        );

        // And a browser that started an install of its own gets its cookie refused too.
        let other = Profile::new();
        let _ = other.authorize(&app).await;
        let (second, _) = attacker.authorize(&app).await;
        let page = other.get(&second).await;
        assert_eq!(page.status(), 400, "{kind}");
        let text = page.text().await.unwrap();
        assert!(text.contains("another browser"), "{kind}: {text}");

        assert_eq!(
            sandbox.control().counters().path(token_path(kind)),
            exchanges,
            "{kind}: no code was sent to the provider"
        );
        assert!(app.manager.list().await.unwrap().is_empty(), "{kind}");
        assert!(app.used.is_empty(), "{kind}: no state was spent");

        // The refusals spent nothing: the attacker's own browser still finishes its install.
        let page = attacker.get(&callback).await;
        assert_eq!(
            page.status(),
            400,
            "{kind}: its cookie now belongs to the second install"
        );
        let page = attacker.get(&second).await;
        assert_eq!(page.status(), 200, "{kind}: {}", page.text().await.unwrap());
        assert_eq!(app.manager.list().await.unwrap().len(), 1, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_installs_stores_nothing_and_a_users_install_succeeds() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack).await;
    let user = Profile::new();
    let (callback, _) = user.authorize(&app).await;

    // 20,000 unauthenticated installs from another client, 32 at a time.
    let flooder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/install", app.base);
    let mut workers = Vec::new();
    for _ in 0..32 {
        let (flooder, url) = (flooder.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut redirected = 0;
            for _ in 0..625 {
                let answer = flooder.get(&url).send().await.unwrap();
                redirected += usize::from(answer.status() == 302);
            }
            redirected
        }));
    }
    let mut redirected = 0;
    for worker in workers {
        redirected += worker.await.unwrap();
    }
    assert_eq!(
        redirected, 20_000,
        "every flood request got its own install"
    );
    assert!(app.used.is_empty(), "starting an install stores nothing");

    let page = user.get(&callback).await;
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    assert_eq!(app.manager.list().await.unwrap().len(), 1);
    assert_eq!(
        app.used.len(),
        1,
        "only the finished install's state is recorded"
    );
}

#[tokio::test]
async fn a_callback_after_its_state_expired_is_refused() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in KINDS {
        let app = app(&sandbox, kind).await;
        let browser = Profile::new();
        let (callback, _) = browser.authorize(&app).await;
        let exchanges = sandbox.control().counters().path(token_path(kind));
        app.clock.advance(Duration::from_secs(601));
        let page = browser.get(&callback).await;
        assert_eq!(page.status(), 400, "{kind}");
        let text = page.text().await.unwrap();
        assert!(text.contains("has expired"), "{kind}: {text}");
        assert_eq!(
            sandbox.control().counters().path(token_path(kind)),
            exchanges,
            "{kind}: no code was sent to the provider"
        );
        assert!(app.manager.list().await.unwrap().is_empty(), "{kind}");
    }
}

#[tokio::test]
async fn the_pkce_verifier_never_travels_in_a_url() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    sandbox.control().register_app(
        oauth_facade::sandbox::App::slack(
            oauth_facade::sandbox::DEFAULT_SLACK_CLIENT_ID,
            "",
            oauth_facade::sandbox::DEFAULT_SLACK_APP_ID,
            &["http://127.0.0.1/callback/slack"],
        )
        .without_secret()
        .with_pkce(true),
    );
    let app = app_with(&sandbox, ProviderKind::Slack, true).await;
    let browser = Profile::new();
    let install = browser.get(&format!("{}/install", app.base)).await;
    let authorize = location(&install);
    let consent = browser.get(&authorize).await;
    let callback = location(&consent);
    let page = browser.get(&callback).await;
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());

    let exchange = sandbox.control().requests_to("/api/oauth.v2.access");
    let body = String::from_utf8(exchange[0].body.clone()).unwrap();
    let verifier = url::form_urlencoded::parse(body.as_bytes())
        .find(|(name, _)| name == "code_verifier")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    assert!(verifier.len() >= 43, "{verifier}");
    for url in [&authorize, &callback] {
        assert!(!url.contains(&verifier), "the verifier is in {url}");
    }
    let challenge = oauth_facade::PkceVerifier::parse(verifier.clone())
        .unwrap()
        .challenge();
    assert!(authorize.contains(challenge.as_str()), "{authorize}");
}
