//! Slack's installation model end to end against oauth-sandbox, over HTTP, on a real SQLite
//! store: an install's bot and user token sets, each refreshed once however many callers; a
//! second user's authorization and a reinstall, and the rows they leave.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, Grant, InstallationKey, Introspect as _,
    ManualClock, Principal, Scopes, TokenKey, TokenProvider, TokenStore,
};
use oauth_manager::TokenManager;
use oauth_sandbox::{Consent, Sandbox, SandboxHandle};
use oauth_slack::{SlackClient, SlackInstallation};
use oauth_store::SqliteTokenStore;

const REFRESH: &str = "slack.oauth.v2.access.refresh_token";

struct App {
    _dir: tempfile::TempDir,
    store: Arc<dyn TokenStore>,
    clock: Arc<ManualClock>,
    slack: Arc<dyn TokenProvider>,
    manager: TokenManager,
}

/// The sandbox's default Slack app, on a client and a manager sharing a manual clock (so that
/// moving it with the sandbox's clock moves expiry), over a SQLite store.
async fn app(sandbox: &SandboxHandle) -> App {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let base = sandbox.base_url().trim_end_matches('/');
    let slack: Arc<dyn TokenProvider> = Arc::new(
        SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
            .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
            .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
            .base_url(format!("{base}/api/"))
            .authorize_base_url(format!("{base}/"))
            .http_client(oauth_itest::http_client().unwrap())
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(
        SqliteTokenStore::open(dir.path().join("tokens.sqlite3"))
            .await
            .unwrap(),
    );
    let manager = TokenManager::builder(slack.clone(), store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    App {
        _dir: dir,
        store,
        clock,
        slack,
        manager,
    }
}

/// Authorizes (with `consent`, if any) with bot scopes `bot` and user scopes `user`, and saves
/// the grant through the manager.
async fn install(
    sandbox: &SandboxHandle,
    app: &App,
    bot: &str,
    user: &str,
    consent: Option<Consent>,
) -> Grant {
    let mut request = AuthorizationRequest::new().unwrap();
    if !bot.is_empty() {
        request = request.scopes(Scopes::parse(bot));
    }
    if !user.is_empty() {
        request = request.param("user_scope", user);
    }
    if let Some(consent) = consent {
        sandbox.control().push_consent(consent);
    }
    let url = app.slack.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    app.manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap()
}

async fn access(store: &dyn TokenStore, key: &TokenKey) -> String {
    store
        .get(key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{key} is stored"))
        .tokens
        .access_token
        .expose_secret()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_and_the_user_token_set_are_each_refreshed_once_by_a_thousand_callers() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox).await;
    let grant = install(&sandbox, &app, "chat:write", "search:read", None).await;
    let bot = grant.token_key(Principal::Bot);
    let user = grant.token_key(Principal::User("U0SANDBOX1".into()));
    assert_eq!(
        app.store.token_keys(&grant.installation.key).await.unwrap(),
        vec![bot.clone(), user.clone()],
        "the install saved both token sets"
    );
    let before = [
        access(app.store.as_ref(), &bot).await,
        access(app.store.as_ref(), &user).await,
    ];

    // Past both expiries: no caller has a usable token, all wait for the refresh.
    let past = Duration::from_secs(43_200 + 60);
    sandbox.control().advance_clock(past);
    app.clock.advance(past);
    let mut tasks = Vec::with_capacity(2_000);
    for key in [&bot, &user] {
        for _ in 0..1_000 {
            let (manager, key) = (app.manager.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let token = manager.access_token(&key).await.unwrap();
                (key, token.expose_secret().to_owned())
            }));
        }
    }
    let mut served = std::collections::BTreeMap::<TokenKey, Vec<String>>::new();
    for task in tasks {
        let (key, token) = task.await.unwrap();
        served.entry(key).or_default().push(token);
    }
    assert_eq!(
        sandbox.control().counters().op(REFRESH),
        2,
        "one refresh grant per token set"
    );
    for (key, old) in [&bot, &user].into_iter().zip(before) {
        let tokens = &served[key];
        assert_eq!(tokens.len(), 1_000);
        let new = access(app.store.as_ref(), key).await;
        assert_ne!(new, old, "{key} rotated");
        assert!(
            tokens.iter().all(|t| *t == new),
            "{key}: every caller got the stored new token"
        );
    }
    assert!(served[&bot][0].starts_with("xoxe.xoxb-"));
    assert!(served[&user][0].starts_with("xoxe.xoxp-"));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_second_user_and_a_reinstall_leave_the_expected_rows() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox).await;
    let first = install(&sandbox, &app, "chat:write", "search:read", None).await;
    let workspace = first.installation.key.clone();
    assert_eq!(workspace.to_string(), "slack/T0SANDBOX1");
    let record = app.store.installation(&workspace).await.unwrap().unwrap();
    let installed = SlackInstallation::from_installation(&record);
    assert_eq!(installed.installer_user_id.as_deref(), Some("U0SANDBOX1"));
    let bot = TokenKey::bot(workspace.clone());
    let installer = TokenKey::user(workspace.clone(), "U0SANDBOX1");
    let second_user = TokenKey::user(workspace.clone(), "U0SECOND9");

    // A second user of the workspace authorizes user scopes only.
    let consent = Consent::approve("T0SANDBOX1", "Sandbox Workspace", "U0SECOND9");
    let second = install(&sandbox, &app, "", "search:read", Some(consent)).await;
    assert_eq!(second.installation.key, workspace, "the same installation");
    assert!(!second.is_install());
    assert_eq!(
        app.store.token_keys(&workspace).await.unwrap(),
        vec![bot.clone(), installer.clone(), second_user.clone()]
    );
    assert_eq!(
        app.store.installation(&workspace).await.unwrap().unwrap(),
        record,
        "the record is the install's"
    );
    let kept = [
        access(app.store.as_ref(), &bot).await,
        access(app.store.as_ref(), &installer).await,
        access(app.store.as_ref(), &second_user).await,
    ];

    // The installer reinstalls with another bot scope: one installation still, new bot and
    // installer token sets and record, the second user's token set untouched.
    let again = install(&sandbox, &app, "chat:write,commands", "search:read", None).await;
    assert_eq!(again.installation.key, workspace);
    let installations: Vec<InstallationKey> = {
        let mut all: Vec<InstallationKey> = app
            .manager
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|key| key.installation().clone())
            .collect();
        all.dedup();
        all
    };
    assert_eq!(
        installations,
        vec![workspace.clone()],
        "no second installation"
    );
    assert_eq!(app.store.token_keys(&workspace).await.unwrap().len(), 3);
    assert_ne!(
        access(app.store.as_ref(), &bot).await,
        kept[0],
        "new bot tokens"
    );
    assert_ne!(
        access(app.store.as_ref(), &installer).await,
        kept[1],
        "new installer tokens"
    );
    assert_eq!(
        access(app.store.as_ref(), &second_user).await,
        kept[2],
        "the other user's tokens stay"
    );
    let record = app.store.installation(&workspace).await.unwrap().unwrap();
    let reinstalled = SlackInstallation::from_installation(&record);
    assert_eq!(
        reinstalled.bot_scopes,
        vec!["chat:write", "commands"],
        "the record is the reinstall's"
    );
    assert!(installed.bot_user_id.is_some());
    assert_eq!(
        reinstalled.bot_user_id, installed.bot_user_id,
        "Slack keeps the bot user across reinstalls"
    );
    // Every token set serves through the manager.
    for key in [&bot, &installer, &second_user] {
        assert_eq!(
            app.manager.access_token(key).await.unwrap().expose_secret(),
            access(app.store.as_ref(), key).await
        );
    }
    sandbox.shutdown().await;
}

/// Whether Slack still takes `key`'s stored access token (auth.test).
async fn live_at_slack(app: &App, token: &oauth_core::AccessToken) -> bool {
    app.slack.introspect(token).await.unwrap().active
}

#[tokio::test]
async fn uninstalling_by_scope_revokes_at_slack_and_deletes_exactly_that_scope() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let app = app(&sandbox).await;
    let workspace = install(&sandbox, &app, "chat:write", "search:read", None)
        .await
        .installation
        .key;
    let consent = Consent::approve("T0SANDBOX1", "Sandbox Workspace", "U0SECOND9");
    install(&sandbox, &app, "", "search:read", Some(consent)).await;
    let grid = Consent::approve("T0GRIDWS1", "Grid Workspace", "U0GRIDUS1")
        .in_enterprise("E0GRID001", "Grid Org");
    let grid_workspace = install(&sandbox, &app, "chat:write", "", Some(grid))
        .await
        .installation
        .key;
    let org = Consent::org_wide("E0GRID001", "Grid Org", "U0ADMIN01", &["T0GRIDWS2"]);
    let org_wide = install(&sandbox, &app, "chat:write", "", Some(org))
        .await
        .installation
        .key;
    let tokens_of = |keys: Vec<TokenKey>| {
        let store = app.store.clone();
        async move {
            let mut tokens = Vec::new();
            for key in keys {
                tokens.push(store.get(&key).await.unwrap().unwrap().tokens.access_token);
            }
            tokens
        }
    };
    let revocations = || sandbox.control().counters().op("slack.auth.revoke");

    // One user's token set: revoked at Slack, deleted; the rest of the installation stays.
    let second = TokenKey::user(workspace.clone(), "U0SECOND9");
    let second_token = tokens_of(vec![second.clone()]).await.remove(0);
    app.manager.revoke_and_delete(&second).await.unwrap();
    assert_eq!(revocations(), 1);
    assert!(!live_at_slack(&app, &second_token).await);
    assert!(app.store.get(&second).await.unwrap().is_none());
    let remaining = app.store.token_keys(&workspace).await.unwrap();
    assert_eq!(remaining.len(), 2, "the bot and the installer stay");

    // An installation: a revocation that fails for a while stops it before anything is deleted.
    let workspace_tokens = tokens_of(remaining.clone()).await;
    sandbox.control().inject_fault(
        oauth_sandbox::Fault::new(
            "/api/auth.revoke",
            oauth_sandbox::FaultKind::Status { status: 503 },
        )
        .times(100),
    );
    let error = app.manager.uninstall(&workspace).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert_eq!(app.store.token_keys(&workspace).await.unwrap(), remaining);
    assert!(app.store.installation(&workspace).await.unwrap().is_some());
    sandbox.control().clear_faults();
    app.manager.uninstall(&workspace).await.unwrap();
    assert!(app.store.installation(&workspace).await.unwrap().is_none());
    assert!(app.store.token_keys(&workspace).await.unwrap().is_empty());
    for token in &workspace_tokens {
        assert!(!live_at_slack(&app, token).await, "revoked at Slack");
    }
    let error = app
        .manager
        .access_token(&TokenKey::bot(workspace.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(error, oauth_core::Error::InstallationNotFound { .. }),
        "{error:?}"
    );

    // An organisation: its workspace install and its org-wide install, nothing else.
    let other = install(
        &sandbox,
        &app,
        "chat:write",
        "",
        Some(Consent::approve("T0SECOND2", "Second", "U0SECOND1")),
    )
    .await
    .installation
    .key;
    let org_tokens = tokens_of(vec![
        TokenKey::bot(grid_workspace.clone()),
        TokenKey::bot(org_wide.clone()),
    ])
    .await;
    let removed = app.manager.uninstall_enterprise("E0GRID001").await.unwrap();
    assert_eq!(removed, vec![org_wide.clone(), grid_workspace.clone()]);
    for token in &org_tokens {
        assert!(!live_at_slack(&app, token).await);
    }
    let left: Vec<InstallationKey> = {
        let mut all: Vec<InstallationKey> = app
            .manager
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|key| key.installation().clone())
            .collect();
        all.dedup();
        all
    };
    assert_eq!(left, vec![other]);
    // Idempotent: uninstalling what is gone changes nothing and succeeds.
    app.manager.uninstall(&workspace).await.unwrap();
    assert!(
        app.manager
            .uninstall_enterprise("E0GRID001")
            .await
            .unwrap()
            .is_empty()
    );
    sandbox.shutdown().await;
}
