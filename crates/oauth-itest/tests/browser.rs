//! The install flow in a real browser: headless Chromium, driven through chromedriver (WebDriver,
//! `fantoccini`), from the install route through the sandbox's consent to the callback page, for
//! Slack and Notion, reading the page the user sees. A browser profile is a Chromium of its own
//! with its own user data directory, so two profiles share no cookie.
//!
//! The attacks, each failing: a second profile finishing the first profile's install (the
//! attacker's callback link, and the attacker's authorization link); the callback replayed; a
//! callback after its state expired; 20,000 `GET /install` from another client while the
//! browser installs; and over two replicas sharing PostgreSQL, an install started on one and
//! finished on the other.
//!
//! Needs `chromium` and `chromedriver` (Debian's packages, which `.ci/run` installs; or
//! `OAUTH_TEST_CHROMIUM` and `OAUTH_TEST_CHROMEDRIVER`). Without them these tests say loudly that
//! they did not run, and fail when `OAUTH_REQUIRE_CHROMIUM` is set, as in CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fantoccini::{Client, ClientBuilder, Locator};
use oauth_facade::install::{InstallFlow, MemoryUsedStates, StateKey, UsedStates};
use oauth_facade::sandbox::{Sandbox, SandboxHandle};
use oauth_facade::store::PostgresTokenStore;
use oauth_facade::{
    ManualClock, MemoryTokenStore, ProviderConfig, ProviderKind, Scopes, TokenManager, TokenStore,
};

/// One browser test at a time: each runs two Chromiums, on a machine of two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// An executable named by `variable`, else the first of `names` on `PATH`.
fn find(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver, running on a port of its own, in a process group of its own: the Chromiums it
/// starts are in it too, and all go when it is dropped.
struct Driver {
    child: std::process::Child,
    url: String,
    chromium: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is chromedriver's own pid (it was started as the group's leader). The
        // `--` matters: procps' `kill -KILL -<pgid>` reads the group as an option and signals
        // every process of the user (`kill(-1, SIGKILL)`); `-s KILL -- -<pgid>` is the group.
        let _ = std::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver and Chromium, or `None` (loudly) when the machine has neither.
async fn driver() -> Option<Driver> {
    use std::os::unix::process::CommandExt as _;
    let tools = (
        find("OAUTH_TEST_CHROMEDRIVER", &["chromedriver"]),
        find(
            "OAUTH_TEST_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        ),
    );
    let (Some(chromedriver), Some(chromium)) = tools else {
        assert!(
            std::env::var_os("OAUTH_REQUIRE_CHROMIUM").is_none(),
            "OAUTH_REQUIRE_CHROMIUM is set but chromium or chromedriver is missing: {tools:?}"
        );
        eprintln!(
            "!!!! chromium or chromedriver not found ({tools:?}): this browser test did NOT run (apt-get install chromium chromium-driver) !!!!"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        chromium,
    };
    // Ready when it answers its status endpoint.
    let status = format!("{}/status", driver.url);
    for _ in 0..200 {
        if reqwest::get(&status)
            .await
            .is_ok_and(|answer| answer.status().is_success())
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("chromedriver did not come up on {}", driver.url);
}

/// A browser profile: a headless Chromium with a user data directory of its own.
struct Profile {
    client: Client,
    _data: tempfile::TempDir,
}

/// What the user sees: the page's heading, its text, and where the browser is.
#[derive(Debug)]
struct Seen {
    heading: String,
    text: String,
    url: String,
}

impl Profile {
    async fn new(driver: &Driver) -> Self {
        let data = tempfile::tempdir().unwrap();
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": driver.chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    format!("--user-data-dir={}", data.path().display()),
                ],
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"));
        Self {
            client,
            _data: data,
        }
    }

    async fn seen(&self) -> Seen {
        let heading = self.client.find(Locator::Css("h1")).await.unwrap();
        let body = self.client.find(Locator::Css("body")).await.unwrap();
        Seen {
            heading: heading.text().await.unwrap(),
            text: body.text().await.unwrap(),
            url: self.client.current_url().await.unwrap().to_string(),
        }
    }

    /// Opens `url` and follows wherever it leads, as the user would.
    async fn open(&self, url: &str) -> Seen {
        self.client.goto(url).await.unwrap();
        self.seen().await
    }

    /// The address of the page's link ("Add to …").
    async fn link(&self) -> String {
        let link = self.client.find(Locator::Css("a")).await.unwrap();
        link.attr("href").await.unwrap().unwrap()
    }

    /// Clicks the page's link and follows wherever it leads.
    async fn click_link(&self) -> Seen {
        let link = self.client.find(Locator::Css("a")).await.unwrap();
        link.click().await.unwrap();
        self.seen().await
    }

    async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// An app: the install flow on its own loopback port. With `install_page`, the install route
/// shows an "Add to …" page first, so that a test can act between the cookie and the consent.
struct App {
    kind: ProviderKind,
    base: String,
    manager: TokenManager,
    clock: Arc<ManualClock>,
}

async fn app(sandbox: &SandboxHandle, kind: ProviderKind, install_page: bool) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{base}/callback/{kind}");
    let provider = ProviderConfig::sandbox(kind, sandbox.base_url())
        .redirect_uri(callback.clone())
        .build()
        .unwrap();
    let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
        .build()
        .unwrap();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let mut flow = InstallFlow::builder(manager.clone(), callback)
        .clock(clock.clone())
        .used_states(Arc::new(MemoryUsedStates::new().with_clock(clock.clone())))
        .install_page(install_page);
    if kind == ProviderKind::Slack {
        flow = flow
            .scopes(Scopes::parse("chat:write,commands"))
            .param("user_scope", "search:read");
    }
    let router = flow
        .build()
        .unwrap()
        .router("/install", &format!("/callback/{kind}"));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    App {
        kind,
        base,
        manager,
        clock,
    }
}

impl App {
    fn install_url(&self) -> String {
        format!("{}/install", self.base)
    }

    async fn installs(&self) -> usize {
        self.manager.list().await.unwrap().len()
    }
}

fn assert_installed(seen: &Seen, app: &App) {
    let kind = app.kind;
    assert_eq!(seen.heading, "Installed", "{kind}: {seen:?}");
    let workspace = match kind {
        ProviderKind::Notion => "Sandbox Notion Workspace",
        _ => "Sandbox Workspace",
    };
    assert!(seen.text.contains(workspace), "{kind}: {seen:?}");
    assert!(
        seen.url
            .starts_with(&format!("{}/callback/{kind}?", app.base)),
        "{kind}: the callback page: {seen:?}"
    );
}

fn assert_refused(seen: &Seen, words: &str, what: &str) {
    assert_eq!(seen.heading, "Installation failed", "{what}: {seen:?}");
    assert!(seen.text.contains(words), "{what}: {seen:?}");
    assert!(seen.text.contains("Try again"), "{what}: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_installs_slack_and_notion_and_a_replay_is_refused() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let browser = Profile::new(&driver).await;
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let app = app(&sandbox, kind, false).await;
        // Install route → the sandbox's consent → the callback, all followed by Chromium.
        let seen = browser.open(&app.install_url()).await;
        assert_installed(&seen, &app);
        let expected = if kind == ProviderKind::Slack { 2 } else { 1 };
        assert_eq!(
            app.installs().await,
            expected,
            "{kind}: bot (and user) token sets"
        );

        // The same callback again, as a reload would send it: its cookie was cleared.
        let again = browser.open(&seen.url).await;
        assert_refused(&again, "without its browser cookie", "a replay");
        assert_eq!(app.installs().await, expected, "{kind}");
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_profile_cannot_finish_the_first_profiles_install() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let attacker = Profile::new(&driver).await;
    let victim = Profile::new(&driver).await;
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let app = app(&sandbox, kind, true).await;

        // Fixation: the attacker's authorization link (its state), consented to in the victim's
        // browser, comes back there without the attacker's cookie.
        let page = attacker.open(&app.install_url()).await;
        assert!(page.heading.starts_with("Add to"), "{kind}: {page:?}");
        let authorize = attacker.link().await;
        let seen = victim.open(&authorize).await;
        assert_refused(
            &seen,
            "without its browser cookie",
            "the attacker's link in the victim's browser",
        );

        // Login CSRF: the attacker consents, stops before the callback (a client that does not
        // follow the redirect), and sends the victim the callback link.
        let consent = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&authorize)
            .send()
            .await
            .unwrap();
        let callback = consent.headers()["location"].to_str().unwrap().to_owned();
        let seen = victim.open(&callback).await;
        assert_refused(
            &seen,
            "without its browser cookie",
            "the attacker's callback in the victim's",
        );
        assert_eq!(app.installs().await, 0, "{kind}: nothing installed");

        // Neither refusal spent anything: the attacker's own browser still finishes.
        let seen = attacker.open(&callback).await;
        assert_installed(&seen, &app);
    }
    attacker.close().await;
    victim.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_after_the_state_expired_is_refused_in_the_browser() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let browser = Profile::new(&driver).await;
    for kind in [ProviderKind::Notion, ProviderKind::Slack] {
        let app = app(&sandbox, kind, true).await;
        let page = browser.open(&app.install_url()).await;
        assert!(page.heading.starts_with("Add to"), "{kind}: {page:?}");
        app.clock.advance(Duration::from_secs(601));
        let seen = browser.click_link().await;
        assert_refused(&seen, "has expired", "a late callback");
        assert_eq!(app.installs().await, 0, "{kind}");
        // "Try again" starts a new install, which succeeds.
        let seen = browser.click_link().await;
        assert!(seen.heading.starts_with("Add to"), "{kind}: {seen:?}");
        let seen = browser.click_link().await;
        assert_installed(&seen, &app);
    }
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_installs_while_another_client_floods_the_install_route() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(driver) = driver().await else {
        return;
    };
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox, ProviderKind::Slack, true).await;
    let browser = Profile::new(&driver).await;
    let page = browser.open(&app.install_url()).await;
    assert!(page.heading.starts_with("Add to"), "{page:?}");

    let flooder = reqwest::Client::new();
    let url = app.install_url();
    let workers: Vec<_> = (0..32)
        .map(|_| {
            let (flooder, url) = (flooder.clone(), url.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                for _ in 0..625 {
                    let answer = flooder.get(&url).send().await.unwrap();
                    answered += usize::from(answer.status() == 200);
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.unwrap();
    }
    assert_eq!(answered, 20_000);

    let seen = browser.click_link().await;
    assert_installed(&seen, &app);
    browser.close().await;
}

/// A replica over the shared PostgreSQL store, its callback at `redirect_uri`.
async fn replica(
    sandbox: &SandboxHandle,
    listener: tokio::net::TcpListener,
    redirect_uri: &str,
    store: Arc<PostgresTokenStore>,
    key: StateKey,
) -> TokenManager {
    let provider = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .redirect_uri(redirect_uri)
        .build()
        .unwrap();
    let manager = TokenManager::builder(provider, store.clone())
        .build()
        .unwrap();
    let used: Arc<dyn UsedStates> = store;
    let router = InstallFlow::builder(manager.clone(), redirect_uri)
        .scopes(Scopes::parse("chat:write"))
        .state_key(key)
        .used_states(used)
        .build()
        .unwrap()
        .router("/install", "/callback/slack");
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    manager
}

fn local(listener: &tokio::net::TcpListener) -> String {
    format!("http://{}", listener.local_addr().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_install_started_on_one_replica_finishes_on_the_other() {
    let _one = ONE_AT_A_TIME.lock().await;
    let Some(pool) = oauth_itest::postgres_schema("browser_replicas").await else {
        return;
    };
    let Some(driver) = driver().await else {
        return;
    };
    let store = Arc::new(PostgresTokenStore::from_pool(pool, None).await.unwrap());
    let sandbox = Sandbox::builder().start().await.unwrap();
    let key = StateKey::generate().unwrap();
    let (first, second) = (
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    );
    let (a, b) = (local(&first), local(&second));
    let redirect_uri = format!("{b}/callback/slack");
    let on_a = replica(&sandbox, first, &redirect_uri, store.clone(), key.clone()).await;
    let on_b = replica(&sandbox, second, &redirect_uri, store.clone(), key).await;

    let browser = Profile::new(&driver).await;
    let seen = browser.open(&format!("{a}/install")).await;
    assert_eq!(seen.heading, "Installed", "{seen:?}");
    assert!(
        seen.url.starts_with(&redirect_uri),
        "finished on the other replica: {seen:?}"
    );
    let keys = on_a.list().await.unwrap();
    assert_eq!(keys, on_b.list().await.unwrap());
    assert_eq!(keys.len(), 1);
    assert!(
        store
            .installation(keys[0].installation())
            .await
            .unwrap()
            .is_some()
    );
    browser.close().await;
}
