//! What the install flow answers, over loopback HTTP against oauth-sandbox: the security headers on
//! every answer (the redirect, the install page, the installed and failure pages, and a hook's own
//! answer), the install page's "Add to …" link, and the failure page's "Try again", which starts
//! a new install rather than going back to a spent authorization URL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::response::{IntoResponse, Response};
use oauth_facade::install::{InstallFlow, InstallHooks, InstallOptions, InstallRequest};
use oauth_facade::sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_facade::{MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager};

/// Answers the install route itself when asked `?refuse`, with headers of its own.
struct Refusing;

#[async_trait]
impl InstallHooks for Refusing {
    async fn before_install(
        &self,
        request: &InstallRequest<'_>,
        _options: &mut InstallOptions,
    ) -> Result<(), Response> {
        match request.uri().query() {
            Some("refuse") => Err((
                [
                    ("cache-control", "public, max-age=600"),
                    ("content-security-policy", "default-src 'self'"),
                ],
                "log in first",
            )
                .into_response()),
            _ => Ok(()),
        }
    }
}

struct App {
    base: String,
    manager: TokenManager,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind, install_page: bool) -> App {
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
    let mut flow = InstallFlow::builder(manager.clone(), format!("{base}{callback}"))
        .install_page(install_page)
        .hooks(Arc::new(Refusing));
    if kind == ProviderKind::Slack {
        flow = flow.scopes(Scopes::parse("chat:write"));
    }
    let router = flow.build().unwrap().router("/slack/install", &callback);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App { base, manager }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Checks the headers every answer of the flow carries.
fn assert_hardened(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("cache-control"), "no-store", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    let policy = header("content-security-policy");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
}

/// The `href` of the page's one link, unescaped.
fn link(html: &str) -> String {
    let start = html.find("href=\"").unwrap() + "href=\"".len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&")
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let plain = app(&sandbox, kind, false).await;
        let browser = browser();

        let install = browser
            .get(format!("{}/slack/install", plain.base))
            .send()
            .await
            .unwrap();
        assert_eq!(install.status(), 302, "{kind}");
        assert_hardened(&install, "the redirect to the provider");
        let consent = browser.get(location(&install)).send().await.unwrap();
        let callback = location(&consent);
        let installed = browser.get(&callback).send().await.unwrap();
        assert_eq!(installed.status(), 200, "{kind}");
        assert_hardened(&installed, "the installed page");
        let failed = browser.get(&callback).send().await.unwrap();
        assert_eq!(failed.status(), 400, "{kind}");
        assert_hardened(&failed, "the failure page");

        let refused = browser
            .get(format!("{}/slack/install?refuse", plain.base))
            .send()
            .await
            .unwrap();
        assert_hardened(&refused, "a hook's own answer");
        assert_eq!(
            refused.headers()["content-security-policy"],
            "default-src 'self'; frame-ancestors 'none'",
            "{kind}: the hook's policy, framing refused"
        );

        let with_page = app(&sandbox, kind, true).await;
        let page = browser
            .get(format!("{}/slack/install", with_page.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{kind}");
        assert_hardened(&page, "the install page");
    }
}

#[tokio::test]
async fn the_install_page_links_to_the_provider_and_its_cookie_finishes_the_install() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for (kind, name) in [
        (ProviderKind::Notion, "Notion"),
        (ProviderKind::Slack, "Slack"),
    ] {
        let app = app(&sandbox, kind, true).await;
        let browser = browser();
        let page = browser
            .get(format!("{}/slack/install", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{kind}");
        assert!(page.headers().get("set-cookie").is_some(), "{kind}");
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("<h1>Add to {name}</h1>")),
            "{kind}: {html}"
        );
        let authorize = link(&html);
        assert!(
            authorize.starts_with(sandbox.base_url()),
            "{kind}: {authorize}"
        );
        let consent = browser.get(&authorize).send().await.unwrap();
        let installed = browser.get(location(&consent)).send().await.unwrap();
        assert_eq!(installed.status(), 200, "{kind}");
        assert_eq!(app.manager.list().await.unwrap().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn the_failure_pages_retry_link_starts_a_new_install() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack, false).await;
    let browser = browser();
    sandbox.control().push_consent(Consent::deny());
    let install = browser
        .get(format!("{}/slack/install", app.base))
        .send()
        .await
        .unwrap();
    let consent = browser.get(location(&install)).send().await.unwrap();
    let failed = browser.get(location(&consent)).send().await.unwrap();
    assert_eq!(failed.status(), 400);
    let html = failed.text().await.unwrap();
    assert!(html.contains("access_denied"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    let retry = link(&html);
    assert_eq!(
        retry, "/slack/install",
        "the install route, not the spent URL"
    );

    // Following it installs.
    let install = browser
        .get(format!("{}{retry}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(install.status(), 302);
    let consent = browser.get(location(&install)).send().await.unwrap();
    let installed = browser.get(location(&consent)).send().await.unwrap();
    assert_eq!(installed.status(), 200);
    assert_eq!(app.manager.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_pages_escape_what_the_provider_sent() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack, false).await;
    let browser = browser();
    let install = browser
        .get(format!("{}/slack/install", app.base))
        .send()
        .await
        .unwrap();
    let consent = browser.get(location(&install)).send().await.unwrap();
    let callback = url::Url::parse(&location(&consent)).unwrap();
    let state = callback
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1
        .into_owned();
    // A provider's refusal carrying markup, with the browser's real state.
    let mut refused = callback.clone();
    refused
        .query_pairs_mut()
        .clear()
        .append_pair("error", "<script>alert(1)</script>")
        .append_pair("error_description", "<img src=x onerror=alert(2)>")
        .append_pair("state", &state);
    let failed = browser.get(refused.as_str()).send().await.unwrap();
    assert_eq!(failed.status(), 400);
    let html = failed.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}
