//! The install flow under attack, over loopback HTTP against oauth-sandbox, with cookie-keeping
//! clients as browser profiles (a profile is a cookie jar: two profiles are two browsers).
//!
//! - the install route's cookie, and its clearing at the callback;
//! - a second profile finishing the first profile's callback (login CSRF, installation fixation):
//!   refused with a clear page, and the code is not sent to the provider.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use oauth_facade::install::InstallFlow;
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::{MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager};

const KINDS: [ProviderKind; 2] = [ProviderKind::Notion, ProviderKind::Slack];

struct App {
    base: String,
    callback: String,
    manager: TokenManager,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("/callback/{kind}");
    let provider = ProviderConfig::sandbox(kind, sandbox.base_url())
        .redirect_uri(format!("{base}{callback}"))
        .build()
        .unwrap();
    let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    let mut flow = InstallFlow::builder(manager.clone(), format!("{base}{callback}"));
    if kind == ProviderKind::Slack {
        flow = flow.scopes(Scopes::parse("chat:write"));
    }
    let router = flow.build().unwrap().router("/install", &callback);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        base,
        callback,
        manager,
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
        assert!(text.contains("without the cookie"), "{kind}: {text}");

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
    }
}
