//! `oauthctl` as people expect from `gh auth`, `gcloud auth` and the Stripe CLI: one test per
//! behaviour, on the built binary against oauth-sandbox.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::path::Path;
use std::time::Duration;

use oauth_sandbox::{
    Consent, DEFAULT_SLACK_CLIENT_ID, DEFAULT_SLACK_CLIENT_SECRET, Fault, FaultKind, Sandbox,
};
use support::{login, login_browsing, oauthctl, run, settings_file, text};

const ACCESS_PREFIX: &str = "xoxe.xoxb-1-";

/// The bytes of a SQLite store and its WAL.
fn store_bytes(path: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", path.display())) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn login_remembers_what_later_commands_need() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    // Everything comes from flags at login (no SLACK_CLIENT_ID, no OAUTHCTL_STORE) ...
    let bare = || {
        let mut command = oauthctl(&store, &sandbox);
        command
            .env_remove("SLACK_CLIENT_ID")
            .env_remove("OAUTHCTL_STORE");
        command
    };
    let store_flag = format!("sqlite:{}", store.display());
    let out = login(
        bare(),
        "slack",
        &base,
        &[
            "--client-id",
            DEFAULT_SLACK_CLIENT_ID,
            "--store",
            &store_flag,
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let settings = std::fs::read_to_string(settings_file(&store)).unwrap();
    assert!(settings.contains(DEFAULT_SLACK_CLIENT_ID), "{settings}");
    assert!(
        settings.contains(&base) && settings.contains(&store_flag),
        "{settings}"
    );
    assert!(
        !settings.contains(DEFAULT_SLACK_CLIENT_SECRET),
        "no secret: {settings}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(settings_file(&store))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // ... and later commands need none of them.
    let out = run(bare(), &["token", "slack"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(ACCESS_PREFIX),
        "{}",
        text(&out.stdout)
    );
    let out = run(bare(), &["list"]).await;
    assert!(
        text(&out.stdout).contains("slack/"),
        "{}",
        text(&out.stdout)
    );
    // A flag still wins over what was remembered.
    let other = dir.path().join("other.sqlite3");
    let out = run(
        bare(),
        &["list", "--store", &format!("sqlite:{}", other.display())],
    )
    .await;
    assert_eq!(text(&out.stdout).trim(), "no installations");
}

#[tokio::test]
async fn slack_base_url_and_the_flag_mean_the_same_and_help_says_so() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The root and the API base, in the variable and in the flag: all four work.
    for value in [base.clone(), format!("{base}/api/")] {
        let mut by_env = oauthctl(&store, &sandbox);
        by_env
            .env("SLACK_BASE_URL", &value)
            .env("OAUTHCTL_CONFIG", dir.path().join("none.toml"));
        let out = run(by_env, &["test", "slack"]).await;
        assert!(
            out.status.success(),
            "SLACK_BASE_URL={value}: {}",
            text(&out.stderr)
        );
        let mut by_flag = oauthctl(&store, &sandbox);
        by_flag.env("OAUTHCTL_CONFIG", dir.path().join("none.toml"));
        let out = run(by_flag, &["test", "slack", "--base-url", &value]).await;
        assert!(
            out.status.success(),
            "--base-url {value}: {}",
            text(&out.stderr)
        );
    }
    let help = run(oauthctl(&store, &sandbox), &["token", "--help"]).await;
    let help = text(&help.stdout);
    assert!(
        help.contains("SLACK_BASE_URL") && help.contains("--base-url"),
        "{help}"
    );
}

#[tokio::test]
async fn verbose_and_rust_log_print_tracing_on_stderr() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let quiet = run(oauthctl(&store, &sandbox), &["introspect", "slack"]).await;
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stderr), "", "nothing logged by default");
    let verbose = run(oauthctl(&store, &sandbox), &["introspect", "slack", "-vv"]).await;
    assert!(
        text(&verbose.stderr).contains("call finished"),
        "{}",
        text(&verbose.stderr)
    );
    let mut with_env = oauthctl(&store, &sandbox);
    with_env.env("RUST_LOG", "oauth_core=debug");
    let logged = run(with_env, &["introspect", "slack"]).await;
    assert!(
        text(&logged.stderr).contains("call finished"),
        "{}",
        text(&logged.stderr)
    );
    // No secret in the logs.
    for out in [&verbose, &logged] {
        assert!(
            !text(&out.stderr).contains(ACCESS_PREFIX),
            "{}",
            text(&out.stderr)
        );
        assert!(!text(&out.stderr).contains(DEFAULT_SLACK_CLIENT_SECRET));
    }
    let mut bad = oauthctl(&store, &sandbox);
    bad.env("RUST_LOG", "oauth_core=loud");
    let out = run(bad, &["introspect", "slack"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// Makes the sandbox's default Slack app mint access tokens that live `ttl_secs`.
fn short_lived_slack_tokens(sandbox: &oauth_sandbox::SandboxHandle, ttl_secs: u64) {
    let control = sandbox.control();
    let app = control
        .app(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
        .unwrap()
        .with_access_token_ttl_secs(ttl_secs);
    control.register_app(app);
}

#[tokio::test]
async fn a_failed_refresh_that_served_the_old_token_warns() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    // Tokens that live 4 s: due after 2 s (never in the first half of a token's life).
    short_lived_slack_tokens(&sandbox, 4);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = run(oauthctl(&store, &sandbox), &["token", "slack"]).await;
    let first = text(&first.stdout).trim().to_owned();

    sandbox.control().inject_fault(Fault {
        count: 100,
        ..Fault::new("/api/oauth.v2.access", FaultKind::Status { status: 503 })
    });
    // Due for a refresh, still valid.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let out = run(oauthctl(&store, &sandbox), &["token", "slack"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), first, "the old token is served");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: the refresh of slack/") && stderr.contains("still valid"),
        "{stderr}"
    );
}

#[tokio::test]
async fn errors_are_said_once_with_a_hint_that_fits() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");

    let mut missing = oauthctl(&store, &sandbox);
    missing.env_remove("SLACK_CLIENT_ID");
    let out = run(missing, &["token", "slack"]).await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert_eq!(
        stderr.matches("SLACK_CLIENT_ID is not set").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("configuration error").count(), 0, "{stderr}");
    assert!(stderr.contains("--client-id"), "{stderr}");

    let out = run(
        oauthctl(&store, &sandbox),
        &["list", "--store", "sqlite3:x.db"],
    )
    .await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown store") && stderr.contains("sqlite:PATH"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("client id"),
        "a store typo is not about the client: {stderr}"
    );

    let mut bad_key = oauthctl(&store, &sandbox);
    bad_key.env("OAUTHCTL_STORE_KEY", "k1:not-base64!");
    let out = run(bad_key, &["list"]).await;
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("OAUTHCTL_STORE_KEY") && stderr.contains("store-key new"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not-base64"),
        "the key is never quoted: {stderr}"
    );
}

#[tokio::test]
async fn the_store_is_encrypted_with_a_key_from_the_environment_or_a_file() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = sandbox.base_url().to_owned();

    // Without a key, login says the tokens are stored in clear.
    let clear = dir.path().join("clear.sqlite3");
    let out = login(oauthctl(&clear, &sandbox), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stored unencrypted"),
        "{}",
        text(&out.stderr)
    );

    // A key from the environment.
    let out = run(oauthctl(&clear, &sandbox), &["store-key", "new"]).await;
    let key = text(&out.stdout).trim().to_owned();
    assert!(key.starts_with("k1:") && key.len() > 40, "{key}");
    let sealed = dir.path().join("sealed.sqlite3");
    let with_key = || {
        let mut command = oauthctl(&sealed, &sandbox);
        command.env("OAUTHCTL_STORE_KEY", &key);
        command
    };
    let out = login(with_key(), "slack", &base, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("unencrypted"),
        "{}",
        text(&out.stderr)
    );
    let token = run(with_key(), &["token", "slack"]).await;
    let token = text(&token.stdout).trim().to_owned();
    assert!(token.starts_with(ACCESS_PREFIX));
    assert!(
        !contains(&store_bytes(&sealed), &token),
        "no plaintext token in the file"
    );
    // Without the key, the store cannot be read, and says so.
    let out = run(oauthctl(&sealed, &sandbox), &["token", "slack"]).await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("key"), "{}", text(&out.stderr));

    // The facade's configuration takes the same key and reads what oauthctl wrote.
    let config = oauth_facade::StoreConfig::new(format!("sqlite:{}", sealed.display()))
        .key(oauth_facade::StoreConfig::parse_key(&key).unwrap());
    let facade_store = config.open().await.unwrap();
    let keys = facade_store.list(None).await.unwrap();
    let stored = facade_store.get(&keys[0]).await.unwrap().unwrap();
    assert_eq!(stored.tokens.access_token.expose_secret(), token);

    // A key file, made owner-only by `store-key new --file`, remembered by login.
    let key_file = dir.path().join("store.key");
    let out = run(
        oauthctl(&sealed, &sandbox),
        &["store-key", "new", "--file", key_file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "the key is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let filed = dir.path().join("filed.sqlite3");
    let mut command = oauthctl(&filed, &sandbox);
    command.env("OAUTHCTL_CONFIG", dir.path().join("filed.toml"));
    let out = login(
        command,
        "slack",
        &base,
        &["--store-key-file", key_file.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut command = oauthctl(&filed, &sandbox);
    command.env("OAUTHCTL_CONFIG", dir.path().join("filed.toml"));
    let out = run(command, &["token", "slack"]).await;
    assert!(
        out.status.success(),
        "the remembered key file: {}",
        text(&out.stderr)
    );
    let token = text(&out.stdout).trim().to_owned();
    assert!(!contains(&store_bytes(&filed), &token));
}

#[tokio::test]
async fn a_store_in_a_missing_directory_is_created_owner_only() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("missing/dir/tokens.sqlite3");
    let out = run(oauthctl(&store, &sandbox), &["list"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(store.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for created in ["missing", "missing/dir"] {
            let mode = std::fs::metadata(dir.path().join(created))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{created}");
        }
    }
    let help = run(oauthctl(&store, &sandbox), &["list", "--help"]).await;
    assert!(text(&help.stdout).contains("missing directories are created"));
}

#[tokio::test]
async fn an_ambiguous_installation_is_a_usage_error() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    for team in ["T0TEAMONE1", "T0TEAMTWO2"] {
        sandbox
            .control()
            .push_consent(Consent::approve(team, "A team", "U0SANDBOX1"));
        let out = login(oauthctl(&store, &sandbox), "slack", &base, &[]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = run(oauthctl(&store, &sandbox), &["token", "slack"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("--installation") && stderr.contains("T0TEAMTWO2"),
        "{stderr}"
    );
    let list = run(oauthctl(&store, &sandbox), &["list", "--json"]).await;
    let rows: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let key = rows[0]["key"].as_str().unwrap().to_owned();
    let out = run(
        oauthctl(&store, &sandbox),
        &["token", "slack", "--installation", &key],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn completions_offer_the_provider_names() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = text(&out.stdout);
        assert!(
            script.contains("notion") && script.contains("slack"),
            "{shell}: {script}"
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["token", "teams"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("notion, slack"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn the_sandbox_command_shows_what_to_pass_and_not_what_it_ignores() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["sandbox", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    assert!(
        !help.contains("--store") && !help.contains("--json"),
        "{help}"
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oauthctl"))
        .args(["sandbox", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt as _;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut shown = String::new();
    for _ in 0..4 {
        shown.push_str(&lines.next_line().await.unwrap().unwrap());
        shown.push('\n');
    }
    assert!(
        shown.contains(&format!(
            "SLACK_CLIENT_SECRET={DEFAULT_SLACK_CLIENT_SECRET}"
        )) && shown.contains("NOTION_CLIENT_SECRET="),
        "{shown}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn the_login_page_escapes_what_it_shows_and_stray_requests_do_not_end_the_login() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("tokens.sqlite3");
    let base = sandbox.base_url().to_owned();
    let hostile = "<img src=x onerror=alert(1)>";
    sandbox
        .control()
        .push_consent(Consent::approve(hostile, "Hostile", "U0SANDBOX1"));

    let (out, browsed) =
        login_browsing(oauthctl(&store, &sandbox), "slack", &base, &[], true).await;

    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        browsed.strays,
        vec![404, 400],
        "answered, and the login went on"
    );
    assert!(browsed.page.contains("Logged in"), "{}", browsed.page);
    assert!(!browsed.page.contains(hostile), "{}", browsed.page);
    assert!(
        browsed.page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        browsed.page
    );
}
