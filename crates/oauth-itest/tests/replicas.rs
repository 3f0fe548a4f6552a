//! Replicas sharing one store, against oauth-sandbox's Slack (single-use rotating refresh tokens):
//! the sandbox's counters judge how many refresh grants were made.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, Introspect, ManualClock,
    MemoryTokenStore, TokenProvider, TokenStore,
};
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_sandbox::{DEFAULT_SLACK_CLIENT_ID, Fault, FaultKind, Sandbox, SandboxHandle};

const REFRESH: &str = "slack.oauth.v2.access.refresh_token";

async fn install(
    sandbox: &SandboxHandle,
    slack: &Arc<dyn TokenProvider>,
    store: Arc<dyn TokenStore>,
) -> (TokenManager, oauth_core::TokenKey) {
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(oauth_core::Scopes::parse("chat:write"));
    let url = slack.authorization_url(&request).unwrap();
    let code = sandbox.control().authorize_code(url.as_str()).unwrap();
    let manager = TokenManager::builder(slack.clone(), store).build().unwrap();
    let grant = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    let key = grant.token_key(oauth_core::Principal::Bot);
    (manager, key)
}

fn spawn_worker(
    store: &str,
    sandbox: &SandboxHandle,
    key: &str,
    tasks: usize,
    seconds: f64,
    margin: u64,
    lease_ms: u64,
) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_manager-worker"))
        .args([
            store,
            sandbox.base_url(),
            key,
            &tasks.to_string(),
            &seconds.to_string(),
            &margin.to_string(),
            &lease_ms.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child
}

fn report(child: Child) -> serde_json::Value {
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "worker failed");
    let text = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_replicas_of_250_tasks_share_one_postgres_database() {
    let Ok(url) = std::env::var("OAUTH_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("OAUTH_REQUIRE_POSTGRES").is_none(),
            "OAUTH_REQUIRE_POSTGRES is set but OAUTH_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "!!!! OAUTH_TEST_POSTGRES_URL is not set: this PostgreSQL test did NOT run (use `cargo xtask test`) !!!!"
        );
        return;
    };
    let schema = format!("replicas_{:016x}", getrandom::u64().unwrap());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options = url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None)
            .await
            .unwrap(),
    );

    let sandbox = Sandbox::builder().start().await.unwrap();
    // Tokens that live 2 s are due after one: the 8 s run goes through several expiry cycles.
    oauth_itest::short_lived_default_slack_tokens(&sandbox, 2);
    let slack = oauth_itest::slack_client(sandbox.base_url()).unwrap();
    let (_, key) = install(&sandbox, &slack, store.clone()).await;
    let spec = format!("postgres:{url}#{schema}");
    let workers: Vec<Child> = (0..4)
        .map(|_| spawn_worker(&spec, &sandbox, &key.to_string(), 250, 8.0, 300, 5_000))
        .collect();
    let reports: Vec<serde_json::Value> = workers.into_iter().map(report).collect();

    let counters = sandbox.control().counters();
    let refreshes = counters.app_op(DEFAULT_SLACK_CLIENT_ID, REFRESH);
    let succeeded = counters.per_app[DEFAULT_SLACK_CLIENT_ID][REFRESH].succeeded;
    let stored = store.get(&key).await.unwrap().unwrap();
    let mut calls = 0;
    for report in &reports {
        assert_eq!(
            report["errors"].as_array().unwrap().len(),
            0,
            "no caller sees an error: {report}"
        );
        calls += report["calls"].as_u64().unwrap();
    }
    assert!(
        refreshes >= 4,
        "several expiry cycles: {refreshes} refreshes"
    );
    assert_eq!(succeeded, refreshes, "no refresh was refused");
    assert_eq!(
        counters
            .refresh_replays
            .get(DEFAULT_SLACK_CLIENT_ID)
            .copied()
            .unwrap_or(0),
        0,
        "no refresh token was used twice"
    );
    assert_eq!(
        stored.version,
        1 + refreshes,
        "exactly one refresh per expiry: each wrote one new version"
    );
    assert!(stored.needs_reauthorization.is_none());
    eprintln!(
        "4 replicas x 250 tasks: {calls} calls, {refreshes} refresh grants over 8 s, 0 errors"
    );
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_holding_the_lease_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.sqlite3");
    let store: Arc<dyn TokenStore> =
        Arc::new(oauth_store::SqliteTokenStore::open(&path).await.unwrap());
    let sandbox = Sandbox::builder().start().await.unwrap();
    let slack = oauth_itest::slack_client(sandbox.base_url()).unwrap();
    let (_, key) = install(&sandbox, &slack, store.clone()).await;
    // The stored token has expired (for every replica): the victim refreshes at once.
    let mut expired = store.get(&key).await.unwrap().unwrap().tokens;
    expired.expires_at = Some(SystemTime::now() - Duration::from_secs(1));
    store.save(&key, &expired).await.unwrap();
    let before = store.get(&key).await.unwrap().unwrap();

    // The victim's refresh hangs in the sandbox for 3 s; it is killed after taking the lease.
    sandbox.control().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::Delay { millis: 3_000 },
    ));
    let mut victim = spawn_worker(
        &format!("sqlite:{}", path.display()),
        &sandbox,
        &key.to_string(),
        1,
        30.0,
        300,
        // Longer than one refresh call of the tests' client can take (4.5 s).
        5_000,
    );
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let lease = store
        .try_acquire_lease(&key, "probe", Duration::from_millis(1))
        .await
        .unwrap();
    assert!(lease.is_none(), "the killed replica still held the lease");

    // A survivor whose token has expired must refresh: it waits for the dead holder's lease to lapse.
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(43_300),
    ));
    let survivor = TokenManager::builder(slack.clone(), store.clone())
        .clock(clock)
        .config(ManagerConfig::default().poll_interval(Duration::from_millis(20)))
        .build()
        .unwrap();
    let token = survivor.access_token(&key).await.unwrap();
    assert_ne!(token, before.tokens.access_token);
    assert!(
        slack.introspect(&token).await.unwrap().active,
        "the token the survivor got works"
    );
    let after = store.get(&key).await.unwrap().unwrap();
    assert!(
        after.needs_reauthorization.is_none(),
        "nothing lost: no lockout"
    );
    tokio::time::sleep(Duration::from_millis(1_600)).await; // let the victim's delayed refresh land
    let counters = sandbox.control().counters();
    assert_eq!(
        counters.app_op(DEFAULT_SLACK_CLIENT_ID, REFRESH),
        2,
        "the victim's and the survivor's"
    );
    assert_eq!(
        counters.per_app[DEFAULT_SLACK_CLIENT_ID][REFRESH].succeeded, 2,
        "the late one was a grace-period replay, not a refusal"
    );
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_lost_refresh_response_is_recovered_through_the_grace_period() {
    let sandbox = Sandbox::builder().start().await.unwrap();
    let slack = oauth_itest::slack_client(sandbox.base_url()).unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(MemoryTokenStore::new());
    let (_, key) = install(&sandbox, &slack, store.clone()).await;
    let before = store.get(&key).await.unwrap().unwrap();
    let clock = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(43_200 - 200),
    ));
    let manager = TokenManager::builder(slack.clone(), store.clone())
        .clock(clock.clone())
        .build()
        .unwrap();

    // Slack rotates, then the connection drops: the response with the new pair is lost.
    sandbox.control().inject_fault(Fault::new(
        "/api/oauth.v2.access",
        FaultKind::DropAfterProcessing,
    ));
    let served = manager.access_token(&key).await.unwrap();
    assert_eq!(
        served, before.tokens.access_token,
        "the still-valid old token is served meanwhile"
    );
    manager.flush().await; // the refresh ran in the background, and its response was lost
    assert_eq!(
        manager.access_token(&key).await.unwrap(),
        before.tokens.access_token,
        "still the old token"
    );
    // Within a second the manager tries again with the same refresh token: inside Slack's grace
    // period it gets the pair it lost.
    clock.advance(Duration::from_secs(2));
    manager.access_token(&key).await.unwrap();
    manager.flush().await;
    let recovered = manager.access_token(&key).await.unwrap();
    assert_ne!(recovered, before.tokens.access_token);
    assert!(slack.introspect(&recovered).await.unwrap().active);
    let counters = sandbox.control().counters();
    assert_eq!(
        counters
            .refresh_replays
            .get(DEFAULT_SLACK_CLIENT_ID)
            .copied(),
        Some(1),
        "recovered by a grace-period replay"
    );
    assert!(
        store
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .needs_reauthorization
            .is_none()
    );
    sandbox.shutdown().await;
}
