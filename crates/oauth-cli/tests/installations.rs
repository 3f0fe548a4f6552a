//! `oauthctl` with Slack's installation model, on the built binary against oauth-sandbox: the
//! bot's and the user's token sets of a login, how `list` and `token` name them, and a token Slack
//! refuses before its time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use oauth_sandbox::{Consent, Sandbox};
use support::{login, oauthctl, run, text};

#[tokio::test]
async fn a_login_with_user_scopes_keeps_both_tokens_and_each_is_found_by_team_and_user() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let cli = || oauthctl(&store, &sandbox);
    let out = login(
        cli(),
        "slack",
        &base,
        &["--scopes", "chat:write", "--user-scopes", "search:read"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A workspace of an Enterprise Grid org, installed by another user.
    let mut grid = Consent::approve("T0GRIDWS1", "Grid Workspace", "U0GRIDUS1");
    grid.enterprise_id = Some("E0GRID001".into());
    grid.enterprise_name = Some("Grid Org".into());
    sandbox.control().push_consent(grid);
    let out = login(cli(), "slack", &base, &["--scopes", "chat:write"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    // `list` groups token sets under their installation, redacted, with expiry.
    let out = run(cli(), &["list"]).await;
    let listing = text(&out.stdout);
    assert!(
        listing.contains("slack/T0SANDBOX1\tSandbox Workspace"),
        "{listing}"
    );
    assert!(listing.contains("  bot\txoxe.xoxb-…"), "{listing}");
    assert!(
        listing.contains("  user:U0SANDBOX1\txoxe.xoxp-…"),
        "{listing}"
    );
    assert!(
        listing.contains("expires in 11h59m") || listing.contains("expires in 12h00m"),
        "{listing}"
    );
    assert!(
        listing.contains("slack/E0GRID001/T0GRIDWS1\tGrid Workspace"),
        "{listing}"
    );
    assert!(
        !listing.contains("xoxe-1-"),
        "no refresh token shown: {listing}"
    );
    let out = run(cli(), &["list", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let principals: Vec<&str> = rows[1]["token_sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| set["principal"].as_str().unwrap())
        .collect();
    assert_eq!(rows[1]["installation"], "slack/T0SANDBOX1");
    assert_eq!(principals, ["bot", "user:U0SANDBOX1"]);
    assert_eq!(rows[0]["enterprise_id"], "E0GRID001");

    let token = |args: &'static [&'static str]| {
        let mut all = vec!["token", "slack"];
        all.extend_from_slice(args);
        let command = cli();
        async move {
            let out = run(command, &all).await;
            (
                out.status.code(),
                text(&out.stdout).trim().to_owned(),
                text(&out.stderr),
            )
        }
    };
    let (code, bot, err) = token(&["--team", "T0SANDBOX1"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(bot.starts_with("xoxe.xoxb-"), "{bot}");
    let (code, user, err) = token(&["--team", "T0SANDBOX1", "--user", "U0SANDBOX1"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(user.starts_with("xoxe.xoxp-"), "{user}");
    let (_, by_key, _) = token(&["--installation", "T0SANDBOX1#user:U0SANDBOX1"]).await;
    assert_eq!(by_key, user, "the documented key form");
    let (_, by_full_key, _) = token(&["--installation", "slack/T0SANDBOX1#bot"]).await;
    assert_eq!(by_full_key, bot);
    let (code, grid, err) = token(&["--team", "T0GRIDWS1", "--enterprise", "E0GRID001"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(grid.starts_with("xoxe.xoxb-") && grid != bot, "{grid}");

    // What is not there is exit 6, naming what was looked for; a bad key is a usage error.
    let (code, _, err) = token(&["--team", "T0SANDBOX1", "--user", "U0NOBODY1"]).await;
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("slack/T0SANDBOX1#user:U0NOBODY1"), "{err}");
    let (code, _, err) = token(&["--team", "T0GRIDWS1"]).await;
    assert_eq!(
        code,
        Some(6),
        "a Grid workspace needs its enterprise: {err}"
    );
    let (code, _, err) = token(&["--installation", "T0SANDBOX1#admin"]).await;
    assert_eq!(code, Some(2), "{err}");
}

#[tokio::test]
async fn a_token_slack_refuses_as_expired_before_its_time_is_refreshed_not_reinstalled() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Slack's clock runs past the token's lifetime; ours says it has 12 hours left (a skew).
    sandbox
        .control()
        .advance_clock(std::time::Duration::from_secs(43_200 + 60));
    let out = run(
        oauthctl(&store, &sandbox),
        &["test", "slack", "--base-url", &base],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": ok; team"),
        "{}",
        text(&out.stdout)
    );
    let counters = sandbox.control().counters();
    assert_eq!(
        counters.op("slack.oauth.v2.access.refresh_token"),
        1,
        "refreshed once"
    );
    assert_eq!(
        counters.op("slack.auth.test"),
        2,
        "refused, then ok with the new token"
    );
}
