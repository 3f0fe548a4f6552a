//! The axum install flow end to end against oauth-sandbox, with a client that follows redirects as
//! a browser would (cookies kept): our install route → the provider's authorize page → our
//! callback route.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use oauth_facade::install::InstallFlow;
use oauth_facade::sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_facade::{
    MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager, TokenStore,
};

struct App {
    base: String,
    store: Arc<MemoryTokenStore>,
    manager: TokenManager,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind, pkce: bool) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = ProviderConfig::sandbox(kind, sandbox.base_url());
    let callback = format!("/callback/{kind}");
    config.redirect_uri = Some(format!("{base}{callback}"));
    if pkce {
        config.client_secret = None;
    }
    let store = Arc::new(MemoryTokenStore::new());
    let manager = TokenManager::builder(config.build().unwrap(), store.clone())
        .build()
        .unwrap();
    let mut flow = InstallFlow::builder(manager.clone(), format!("{base}{callback}")).pkce(pkce);
    if kind == ProviderKind::Slack {
        flow = flow
            .scopes(Scopes::parse("chat:write,commands"))
            .param("user_scope", "search:read");
    }
    let router = flow.build().unwrap().router("/install", &callback);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        base,
        store,
        manager,
    }
}

/// One browser profile: its cookie jar, shared by a client that follows redirects and one that
/// stops at each, so that a test can look at every hop.
struct Profile {
    follow: reqwest::Client,
    step: reqwest::Client,
}

impl Profile {
    fn new() -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = |redirects| {
            reqwest::Client::builder()
                .redirect(redirects)
                .cookie_provider(jar.clone())
                .build()
                .unwrap()
        };
        Self {
            follow: client(reqwest::redirect::Policy::limited(5)),
            step: client(reqwest::redirect::Policy::none()),
        }
    }
}

fn browser() -> reqwest::Client {
    Profile::new().follow
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_browser_installs_each_provider() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let app = app(&sandbox, kind, false).await;
        let page = browser()
            .get(format!("{}/install", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{kind}");
        let body = page.text().await.unwrap();
        assert!(body.contains("Installed"), "{kind}: {body}");
        let keys = app.manager.list().await.unwrap();
        // Slack, asked for user scopes too, grants the bot's token set and the installer's.
        let principals: Vec<String> = keys.iter().map(|k| k.principal().to_string()).collect();
        let expected: &[&str] = match kind {
            ProviderKind::Slack => &["bot", "user:U0SANDBOX1"],
            _ => &["bot"],
        };
        assert_eq!(principals, expected, "{kind}: saved through the store");
        let installation = app
            .store
            .installation(keys[0].installation())
            .await
            .unwrap();
        assert!(installation.is_some(), "{kind}: the installation record");
        for key in &keys {
            let stored = app.store.get(key).await.unwrap().unwrap();
            assert_eq!(stored.tokens.provider.as_str(), kind.as_str());
            assert!(app.manager.access_token(key).await.is_ok());
        }
    }
}

#[tokio::test]
async fn a_slack_public_client_installs_with_pkce() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    sandbox.control().register_app(
        oauth_facade::sandbox::App::slack(
            oauth_facade::sandbox::DEFAULT_SLACK_CLIENT_ID,
            "",
            oauth_facade::sandbox::DEFAULT_SLACK_APP_ID,
            &["http://127.0.0.1/callback/slack"],
        )
        .without_secret()
        .with_pkce(true)
        .with_rotation(true),
    );
    let app = app(&sandbox, ProviderKind::Slack, true).await;
    let browser = Profile::new();
    let redirect = browser
        .step
        .get(format!("{}/install", app.base))
        .send()
        .await
        .unwrap();
    let location = location(&redirect);
    assert!(
        location.contains("code_challenge_method=S256"),
        "{location}"
    );
    let page = browser.follow.get(location).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    assert_eq!(app.manager.list().await.unwrap().len(), 2, "bot and user");
}

#[tokio::test]
async fn denied_consent_and_replayed_callbacks_fail_clearly() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack, false).await;

    sandbox.control().push_consent(Consent::deny());
    let page = browser()
        .get(format!("{}/install", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("access_denied"));
    assert!(app.manager.list().await.unwrap().is_empty());

    // Follow by hand to keep the callback URL, then replay it.
    let browser = Profile::new();
    let to_provider = browser
        .step
        .get(format!("{}/install", app.base))
        .send()
        .await
        .unwrap();
    let to_callback = browser
        .step
        .get(location(&to_provider))
        .send()
        .await
        .unwrap();
    let callback = location(&to_callback);
    let cookie = to_provider.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        browser.step.get(&callback).send().await.unwrap().status(),
        200
    );
    // The first callback cleared the cookie: the browser's replay comes without it.
    let replay = browser.step.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    let text = replay.text().await.unwrap();
    assert!(text.contains("without its browser cookie"), "{text}");
    // With the cookie sent again, the state is refused as used.
    let replay = reqwest::Client::new()
        .get(&callback)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    let text = replay.text().await.unwrap();
    assert!(text.contains("already used"), "{text}");

    // A forged callback.
    let forged = browser
        .step
        .get(format!("{}/callback/slack?code=x&state=forged", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("unknown"));
}

#[tokio::test]
async fn a_user_only_slack_app_installs_through_the_same_flow() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let redirect = format!("{base}/callback/slack");
    let config = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url());
    let slack = oauth_facade::slack::SlackClient::builder(config.client_id.clone())
        .client_secret(config.client_secret.clone().unwrap())
        .base_url(config.base_url.clone().unwrap())
        .authorize_base_url(config.authorize_base_url.clone().unwrap())
        .redirect_uri(redirect.clone())
        .allow_insecure_http(true)
        .user_only_install(true)
        .build()
        .unwrap();
    let store = Arc::new(MemoryTokenStore::new());
    let manager = TokenManager::builder(Arc::new(slack), store.clone())
        .build()
        .unwrap();
    let router = InstallFlow::builder(manager.clone(), redirect)
        .scopes(Scopes::parse("search:read"))
        .build()
        .unwrap()
        .router("/install", "/callback/slack");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let browser = Profile::new();
    let redirect = browser
        .step
        .get(format!("{base}/install"))
        .send()
        .await
        .unwrap();
    let location = location(&redirect);
    assert!(location.contains("/oauth/v2_user/authorize?"), "{location}");
    let page = browser.follow.get(location).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    let keys = manager.list().await.unwrap();
    let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
    assert_eq!(texts, ["slack/T0SANDBOX1#user:U0SANDBOX1"]);
    let token = manager.access_token(&keys[0]).await.unwrap();
    assert!(token.expose_secret().starts_with("xoxe.xoxp-"));
    assert_eq!(
        sandbox
            .control()
            .counters()
            .op("slack.oauth.v2.user.access.authorization_code"),
        1
    );
}
