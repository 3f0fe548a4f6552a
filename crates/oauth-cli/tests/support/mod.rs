//! What the CLI tests share: `oauthctl` with a clean environment (its own store and settings
//! file), and the test as the browser of `oauthctl login`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    dead_code,
    unreachable_pub
)]

use std::path::Path;
use std::process::{Output, Stdio};

use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, SandboxHandle,
};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

/// A plain `reqwest::Client` for the test's own requests.
pub fn http_client(redirects: reqwest::redirect::Policy) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(redirects)
        .build()
        .unwrap()
}

pub fn oauthctl(store: &Path, sandbox: &SandboxHandle) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oauthctl"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OAUTHCTL_STORE", format!("sqlite:{}", store.display()))
        .env("OAUTHCTL_CONFIG", settings_file(store))
        .env("SLACK_CLIENT_ID", DEFAULT_SLACK_CLIENT_ID)
        .env("SLACK_CLIENT_SECRET", DEFAULT_SLACK_CLIENT_SECRET)
        .env("NOTION_CLIENT_ID", DEFAULT_NOTION_CLIENT_ID)
        .env("NOTION_CLIENT_SECRET", DEFAULT_NOTION_CLIENT_SECRET)
        .env("SANDBOX", sandbox.base_url());
    command
}

/// The settings file of a test: beside its store.
pub fn settings_file(store: &Path) -> std::path::PathBuf {
    store.with_file_name("oauthctl-config.toml")
}

pub async fn run(mut command: Command, args: &[&str]) -> Output {
    command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `oauthctl login` with the test as the browser: read the URL it prints, follow the redirects to
/// its loopback listener.
pub async fn login(command: Command, provider: &str, base: &str, extra: &[&str]) -> Output {
    login_browsing(command, provider, base, extra, false)
        .await
        .0
}

/// What the test's browser saw of a login.
#[derive(Debug, Default)]
pub struct Browsed {
    /// The page the callback answered with.
    pub page: String,
    /// The statuses of the stray requests sent to the listener before the redirect.
    pub strays: Vec<u16>,
}

/// As [`login`]; with `strays`, first sends the listener what a browser may send besides the
/// redirect (a favicon request, the callback path without a query), and keeps the final page.
pub async fn login_browsing(
    mut command: Command,
    provider: &str,
    base: &str,
    extra: &[&str],
    strays: bool,
) -> (Output, Browsed) {
    command
        .args([
            "login",
            provider,
            "--base-url",
            base,
            "--no-browser",
            "--timeout",
            "20",
        ])
        .args(extra);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = stderr
            .next_line()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no URL printed: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        if let Some(url) = line.trim().strip_prefix("http") {
            break format!("http{url}");
        }
    };
    let mut browsed = Browsed::default();
    if strays {
        let redirect_uri = url::Url::parse(&url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let listener = url::Url::parse(&redirect_uri).unwrap();
        let client = http_client(reqwest::redirect::Policy::none());
        for stray in [listener.join("/favicon.ico").unwrap(), listener.clone()] {
            let response = client.get(stray).send().await.unwrap();
            browsed.strays.push(response.status().as_u16());
        }
    }
    let browser = http_client(reqwest::redirect::Policy::limited(5));
    if let Ok(response) = browser.get(&url).send().await {
        browsed.page = response.text().await.unwrap_or_default();
    }
    while let Some(line) = stderr.next_line().await.unwrap() {
        seen.push_str(&line);
        seen.push('\n');
    }
    let output = child.wait_with_output().await.unwrap();
    (
        Output {
            stderr: seen.into_bytes(),
            ..output
        },
        browsed,
    )
}
