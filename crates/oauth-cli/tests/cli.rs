//! The built `oauthctl` binary end to end against oauth-sandbox: demo, login (the test plays the
//! browser), token (with a rotation), introspect, test, revoke, list, logout, and the error paths
//! with their messages and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use oauth_sandbox::{Consent, DEFAULT_SLACK_CLIENT_SECRET, Sandbox};
use support::{http_client, login, oauthctl, run, text};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn demo_runs_both_providers_offline() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .arg("demo")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for needle in [
        "== notion ==",
        "== slack ==",
        "rotated",
        "user:U",
        "inactive (token_revoked)",
        "demo finished",
    ] {
        assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
    }
    // Tokens are shown by fingerprint only.
    assert!(!stdout.contains("xoxe.xoxb-1-"), "{stdout}");
    let json = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["demo", "--json"])
        .output()
        .unwrap();
    let steps: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // Ten steps a provider, and Slack's user token set exchanged, stored, served and refreshed too.
    assert_eq!(steps.as_array().unwrap().len(), 24);
    let refreshes: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter(|step| step["provider"] == "slack" && step["name"] == "refresh")
        .map(|step| step["detail"].as_str().unwrap())
        .collect();
    assert_eq!(refreshes.len(), 2, "{steps}");
    assert!(refreshes[0].starts_with("bot: rotated"), "{refreshes:?}");
    assert!(refreshes[1].starts_with("user:U"), "{refreshes:?}");
    assert!(refreshes[1].ends_with("refresh grants: 2"), "{refreshes:?}");
}

#[tokio::test]
async fn the_lifecycle_from_the_command_line() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    // Tokens that live 4 s: due after 2 s (never in the first half of a token's life).
    let app = sandbox
        .control()
        .app(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
        .unwrap();
    sandbox
        .control()
        .register_app(app.with_access_token_ttl_secs(4));
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let cli = || oauthctl(&store, &sandbox);

    let out = login(cli(), "slack", &base, &["--scopes", "chat:write,commands"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("logged in: slack/"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stderr).contains(DEFAULT_SLACK_CLIENT_SECRET)
            && !text(&out.stdout).contains(DEFAULT_SLACK_CLIENT_SECRET)
    );

    let out = run(cli(), &["token", "slack", "--base-url", &base]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout).trim().to_owned();
    assert!(first.starts_with("xoxe.xoxb-1-"), "{first}");
    let again = run(cli(), &["token", "slack", "--base-url", &base]).await;
    assert_eq!(text(&again.stdout).trim(), first, "cached: no refresh");
    // Due: the token command waits for the refresh and prints the new token.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let out = run(
        cli(),
        &[
            "token",
            "slack",
            "--base-url",
            &base,
            "--refresh-margin",
            "300",
        ],
    )
    .await;
    let rotated = text(&out.stdout).trim().to_owned();
    assert_ne!(rotated, first, "rotated");
    assert_eq!(
        sandbox
            .control()
            .counters()
            .op("slack.oauth.v2.access.refresh_token"),
        1
    );

    let out = run(cli(), &["introspect", "slack", "--base-url", &base]).await;
    assert!(
        text(&out.stdout).contains("active; scopes: chat:write,commands"),
        "{}",
        text(&out.stdout)
    );
    let out = run(cli(), &["test", "slack", "--base-url", &base]).await;
    assert!(
        text(&out.stdout).contains(": ok; team"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let out = run(cli(), &["list", "--json"]).await;
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["token_sets"][0]["status"], "ok");

    let out = run(cli(), &["revoke", "slack", "--base-url", &base]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(cli(), &["token", "slack", "--base-url", &base]).await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "re-authorization required: {}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("re-authorization"),
        "{}",
        text(&out.stderr)
    );
    let out = run(cli(), &["introspect", "slack", "--base-url", &base]).await;
    assert!(
        text(&out.stdout).contains("inactive"),
        "{}",
        text(&out.stdout)
    );

    let out = run(cli(), &["logout", "slack", "--base-url", &base]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&run(cli(), &["list"]).await.stdout).trim(),
        "no installations"
    );
    let out = run(cli(), &["token", "slack", "--base-url", &base]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("oauthctl login slack"),
        "{}",
        text(&out.stderr)
    );

    // Notion too.
    let out = login(cli(), "notion", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(cli(), &["token", "notion", "--base-url", &base]).await;
    assert!(text(&out.stdout).trim().len() > 10);
}

#[tokio::test]
async fn error_paths_have_their_exit_codes() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();

    // Wrong client secret: configuration (3).
    let mut bad = oauthctl(&store, &sandbox);
    bad.env("SLACK_CLIENT_SECRET", "not-the-secret");
    let out = login(bad, "slack", &base, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("bad_client_secret"),
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stderr).contains("not-the-secret"));

    // Denied consent: 7.
    sandbox.control().push_consent(Consent::deny());
    let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("access_denied"),
        "{}",
        text(&out.stderr)
    );

    // Missing configuration: 3, naming the variable.
    let mut missing = oauthctl(&store, &sandbox);
    missing.env_remove("NOTION_CLIENT_ID");
    let out = run(missing, &["token", "notion"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("NOTION_CLIENT_ID"),
        "{}",
        text(&out.stderr)
    );

    // No installation: 6; a bad store spec: 3; a usage error: 2.
    let out = run(
        oauthctl(&store, &sandbox),
        &["introspect", "notion", "--base-url", &base],
    )
    .await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
    let out = run(
        oauthctl(&store, &sandbox),
        &["list", "--store", "mysql://x"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = run(oauthctl(&store, &sandbox), &["token", "teams"]).await;
    assert_eq!(out.status.code(), Some(2));

    // A login nobody completes: timeout (8).
    let mut command = oauthctl(&store, &sandbox);
    command.args([
        "login",
        "notion",
        "--base-url",
        &base,
        "--no-browser",
        "--timeout",
        "1",
    ]);
    let out = command.output().await.unwrap();
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
}

#[tokio::test]
async fn help_completions_and_the_sandbox_command() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(text(&out.stdout).contains("Examples:"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("oauthctl"));

    let mut child = Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["sandbox", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next_line().await.unwrap().unwrap();
    let url = ready.strip_prefix("listening on ").unwrap().to_owned();
    let health = http_client(reqwest::redirect::Policy::none())
        .get(format!("{url}/_sandbox/health"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    child.kill().await.unwrap();
}
