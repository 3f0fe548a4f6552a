//! The app's context through the install flow, over loopback HTTP against oauth-sandbox: hooks
//! that read the app's session cookie at the install route, attach metadata and per-install
//! options (team, scopes, redirect URI), and get the metadata back, verified, with the callback's
//! request; the metadata changed in the state, or a state carried to another user's browser, is
//! refused and its metadata never reaches the app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use oauth_facade::install::{
    Failed, InstallFlow, InstallHooks, InstallOptions, InstallRequest, Installed, Stage,
};
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::{MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager};

/// An app that installs for its logged-in user: its session cookie names the user.
struct AppHooks;

fn query_param(request: &InstallRequest<'_>, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[async_trait]
impl InstallHooks for AppHooks {
    async fn before_install(
        &self,
        request: &InstallRequest<'_>,
        options: &mut InstallOptions,
    ) -> Result<(), Response> {
        let Some(user) = request.cookie("session") else {
            return Err(Redirect::to("/login").into_response());
        };
        let mut chosen = InstallOptions::new().metadata(format!("app-user={user}"));
        if let Some(team) = query_param(request, "team") {
            chosen = chosen.team(team);
        }
        if let Some(scopes) = query_param(request, "scopes") {
            chosen = chosen.scopes(Scopes::parse(&scopes));
        }
        if let Some(redirect) = query_param(request, "redirect") {
            chosen = chosen.redirect_uri(redirect);
        }
        *options = chosen;
        Ok(())
    }

    async fn on_success(&self, installed: &Installed<'_>) -> Response {
        Html(format!(
            "linked {} to [{}] (callback session: {})",
            installed.grant.installation.key,
            installed.options.metadata_value().unwrap_or("none"),
            installed.request.cookie("session").unwrap_or("none"),
        ))
        .into_response()
    }

    async fn on_failure(&self, failed: &Failed<'_>) -> Response {
        let stage = match failed.stage {
            Stage::Install => "install",
            _ => "callback",
        };
        (
            StatusCode::BAD_REQUEST,
            format!(
                "{stage} failed with [{}]: {} (retry at {})",
                failed
                    .options
                    .and_then(InstallOptions::metadata_value)
                    .unwrap_or("no verified metadata"),
                failed.error,
                failed.retry_url
            ),
        )
            .into_response()
    }
}

struct App {
    base: String,
    /// The callback's path (as the sandbox's apps register it).
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
    let mut flow = InstallFlow::builder(manager.clone(), format!("{base}{callback}"))
        .allow_redirect_uri(format!("{base}{callback}/other"))
        .hooks(Arc::new(AppHooks));
    if kind == ProviderKind::Slack {
        flow = flow.scopes(Scopes::parse("chat:write"));
    }
    let flow = flow.build().unwrap();
    let router = flow
        .router("/install", &callback)
        .merge(flow.router("/install/other", &format!("{callback}/other")));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        base,
        callback,
        manager,
    }
}

/// A browser profile, logged in to the app as `user` (or not at all).
struct Profile {
    client: reqwest::Client,
}

impl Profile {
    fn new(base: &str, user: Option<&str>) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        if let Some(user) = user {
            jar.add_cookie_str(&format!("session={user}; Path=/"), &base.parse().unwrap());
        }
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_provider(jar)
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.client.get(url).send().await.unwrap()
    }

    /// The install route at `path`, then the consent: the install's answer and the callback URL.
    async fn authorize(&self, app: &App, path: &str) -> (reqwest::Response, String) {
        let install = self.get(&format!("{}{path}", app.base)).await;
        assert_eq!(install.status(), 302, "{path}");
        let consent = self.get(&location(&install)).await;
        assert_eq!(
            consent.status(),
            302,
            "{path}: {}",
            consent.text().await.unwrap()
        );
        let callback = location(&consent);
        (install, callback)
    }
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_metadata_comes_back_verified_with_the_callbacks_request() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let app = app(&sandbox, kind).await;
        let alice = Profile::new(&app.base, Some("alice"));
        let (install, callback) = alice.authorize(&app, "/install").await;
        let authorize = location(&install);
        assert!(
            !authorize.contains("alice"),
            "{kind}: the metadata is sealed: {authorize}"
        );
        let page = alice.get(&callback).await;
        assert_eq!(page.status(), 200, "{kind}");
        let text = page.text().await.unwrap();
        assert!(
            text.contains("to [app-user=alice] (callback session: alice)"),
            "{kind}: {text}"
        );
        assert_eq!(app.manager.list().await.unwrap().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn a_visitor_the_hook_turns_away_gets_its_answer_and_no_cookie() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack).await;
    let anonymous = Profile::new(&app.base, None);
    let answer = anonymous.get(&format!("{}/install", app.base)).await;
    assert_eq!(answer.status(), 303);
    assert_eq!(location(&answer), "/login");
    assert!(answer.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn changed_metadata_and_a_state_swapped_between_users_are_refused() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack).await;
    let alice = Profile::new(&app.base, Some("alice"));
    let (_, callback) = alice.authorize(&app, "/install").await;

    // Changed: any character of the sealed state.
    let url = url::Url::parse(&callback).unwrap();
    let state: String = url
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1
        .into_owned();
    let code: String = url
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    for at in [0, state.len() / 3, state.len() / 2, state.len() - 2] {
        let mut altered = state.clone().into_bytes();
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let page = alice
            .get(&format!(
                "{}{}?code={code}&state={altered}",
                app.base, app.callback
            ))
            .await;
        assert_eq!(page.status(), 400, "character {at}");
        let text = page.text().await.unwrap();
        assert!(text.contains("[no verified metadata]"), "{text}");
        assert!(text.contains("`state` is unknown"), "{text}");
    }

    // Swapped: alice's callback (her metadata) opened by bob, who started an install of his own.
    let bob = Profile::new(&app.base, Some("bob"));
    let _ = bob.authorize(&app, "/install").await;
    let page = bob.get(&callback).await;
    assert_eq!(page.status(), 400);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("callback failed with [no verified metadata]"),
        "{text}"
    );
    assert!(text.contains("another browser"), "{text}");
    assert!(text.contains("retry at /install"), "{text}");
    assert!(app.manager.list().await.unwrap().is_empty());

    // Alice's own browser still finishes, with her metadata.
    let page = alice.get(&callback).await;
    let text = page.text().await.unwrap();
    assert!(
        text.contains("[app-user=alice] (callback session: alice)"),
        "{text}"
    );
}

#[tokio::test]
async fn per_install_options_choose_the_team_scopes_and_an_allowed_redirect_uri() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack).await;
    let alice = Profile::new(&app.base, Some("alice"));
    let other = format!("{}{}/other", app.base, app.callback);
    let path = format!(
        "/install/other?team=T0TEAM2&scopes=chat:write,commands&redirect={}",
        url::form_urlencoded::byte_serialize(other.as_bytes()).collect::<String>()
    );
    let (install, callback) = alice.authorize(&app, &path).await;
    let authorize = url::Url::parse(&location(&install)).unwrap();
    let param = |name: &str| {
        authorize
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(param("team").as_deref(), Some("T0TEAM2"));
    assert_eq!(param("scope").as_deref(), Some("chat:write,commands"));
    assert_eq!(param("redirect_uri").as_deref(), Some(other.as_str()));
    let set_cookie = install.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.contains("; Path=/callback/slack/other;"),
        "{set_cookie}"
    );
    assert!(callback.starts_with(&other), "{callback}");
    let page = alice.get(&callback).await;
    let text = page.text().await.unwrap();
    assert!(
        text.contains("linked slack/T0TEAM2 to [app-user=alice]"),
        "{text}"
    );

    // A redirect URI the flow does not allow is refused at the install route: no open redirect.
    let path = "/install?redirect=https%3A%2F%2Fattacker.example%2Fcallback";
    let answer = alice.get(&format!("{}{path}", app.base)).await;
    assert_eq!(answer.status(), 400);
    assert!(answer.headers().get("location").is_none());
    assert!(answer.headers().get("set-cookie").is_none());
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("install failed with [app-user=alice]"),
        "{text}"
    );
    assert!(text.contains("not one this flow allows"), "{text}");
}

#[tokio::test]
async fn slacks_options_are_refused_for_notion() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Notion).await;
    let alice = Profile::new(&app.base, Some("alice"));
    let answer = alice.get(&format!("{}/install?team=T1", app.base)).await;
    assert_eq!(answer.status(), 400);
    let text = answer.text().await.unwrap();
    assert!(text.contains("Slack's install options"), "{text}");
}
