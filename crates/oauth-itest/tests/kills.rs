//! Replicas SIGKILLed at random points, sharing PostgreSQL, refreshing Slack tokens through the
//! sandbox several times a second: does any installation end up locked out, and if so, only in
//! the window no design can close (a crash after the provider rotated and before the first write,
//! with no grace period left)?
//!
//! Three `kill-worker` processes share four installations whose tokens live 3 s (due after 1.5 s),
//! and the sandbox takes 40 ms to answer a refresh. A killer picks a replica and kills it (a third
//! of the kills the moment it reports that the provider answered and the write is about to start,
//! a third the moment it took a lease, with its provider call in flight, the others at a random
//! time), restarts it, and records where each kill landed from the replica's own step reports. A
//! monitor watches the store: an installation marked "needs re-authorization" is a lockout,
//! attributed to the last kill that caught that installation between its lease and its write,
//! then installed again so the run goes on. The run is made twice: with Slack's grace period for a spent refresh token
//! (300 s, the sandbox's default), where no lockout is allowed at all, and without one.
//!
//! `OAUTH_KILLS` sets the kills per run (CI: 36 per run, 72 in all; `cargo xtask soak` runs 150
//! per run, 300 in all) and the figures are printed at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, InstallationKey, Introspect as _,
    Principal, TokenGrant as _, TokenKey, TokenProvider, TokenStore,
};
use oauth_manager::{ManagerConfig, TokenManager};
use oauth_sandbox::{App, DEFAULT_SLACK_REDIRECT_URIS, Fault, FaultKind, Sandbox, SandboxHandle};

const WORKERS: usize = 3;
const INSTALLATIONS: usize = 4;
const TASKS: usize = 40;
const LEASE_MS: u64 = 1_000;
const CAS_DELAY_MS: u64 = 60;

/// Where a kill landed, from the victim's step reports for one installation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Point {
    /// The lease was held and the provider call may have been in flight (or answered unread).
    DuringCall,
    /// The provider answered; the write had not landed.
    AfterAnswer,
    /// Written; the lease not yet released.
    AfterWrite,
    /// No refresh of that installation in progress in the victim.
    Elsewhere,
}

impl Point {
    fn label(self) -> &'static str {
        match self {
            Point::DuringCall => "lease held, provider call in flight",
            Point::AfterAnswer => "provider answered, write not landed",
            Point::AfterWrite => "written, lease not released",
            Point::Elsewhere => "no refresh in progress",
        }
    }
}

/// The steps each replica reported, per installation.
#[derive(Default)]
struct Steps(HashMap<String, Point>);

impl Steps {
    fn apply(&mut self, line: &str) {
        let Some((step, key)) = line.split_once(' ') else {
            return;
        };
        match step {
            "lease" => {
                self.0.insert(key.to_owned(), Point::DuringCall);
            }
            "answered" => {
                self.0.insert(key.to_owned(), Point::AfterAnswer);
            }
            "written" => {
                self.0.insert(key.to_owned(), Point::AfterWrite);
            }
            "released" => {
                self.0.remove(key);
            }
            _ => {}
        }
    }

    fn point(&self, key: &str) -> Point {
        self.0.get(key).copied().unwrap_or(Point::Elsewhere)
    }

    /// The most advanced step of any installation: what the kill is counted as.
    fn worst(&self) -> Point {
        self.0.values().copied().min().unwrap_or(Point::Elsewhere)
    }
}

struct Worker {
    child: Child,
    steps: Arc<Mutex<Steps>>,
}

fn spawn(spec: &str, sandbox: &SandboxHandle, app: &App, keys: &str) -> Worker {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kill-worker"))
        .args([
            spec,
            sandbox.base_url(),
            &app.client_id,
            app.client_secret.as_deref().unwrap(),
            keys,
            &TASKS.to_string(),
            &LEASE_MS.to_string(),
            &CAS_DELAY_MS.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the worker did not start");
    let steps = Arc::new(Mutex::new(Steps::default()));
    let sink = steps.clone();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            sink.lock().unwrap().apply(&line);
        }
    });
    Worker { child, steps }
}

fn random(below: u64) -> u64 {
    getrandom::u64().unwrap() % below.max(1)
}

async fn install(
    sandbox: &SandboxHandle,
    slack: &Arc<dyn TokenProvider>,
    store: &Arc<dyn TokenStore>,
    key: &TokenKey,
) {
    let request = AuthorizationRequest::new()
        .unwrap()
        .scopes(oauth_core::Scopes::parse("chat:write"));
    let url = slack.authorization_url(&request).unwrap();
    let code = sandbox
        .control()
        .authorize(&format!("{}?{}", url.path(), url.query().unwrap()))
        .unwrap()
        .code
        .unwrap();
    let grant = slack
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .unwrap();
    store
        .save(key, grant.tokens_of(&Principal::Bot).unwrap())
        .await
        .unwrap();
}

#[derive(Default, Debug)]
struct Figures {
    kills: BTreeMap<Point, u64>,
    lockouts: BTreeMap<Point, u64>,
    replays: u64,
    refused: u64,
    refreshes: u64,
}

/// One run with a sandbox app whose spent refresh tokens stay usable for `grace_secs`: `kills`
/// kills, then the check that every installation is refreshable. `None` without PostgreSQL.
async fn run(grace_secs: u64, kills: u64) -> Option<Figures> {
    let pool = oauth_itest::postgres_schema(&format!("kills_{grace_secs}")).await?;
    let spec = oauth_itest::postgres_spec(&pool).await;
    let store: Arc<dyn TokenStore> = Arc::new(
        oauth_store::PostgresTokenStore::from_pool(pool, None)
            .await
            .unwrap(),
    );
    let app = App::slack(
        format!("7000000{grace_secs}.1"),
        "kill-test-secret",
        "A0KILLS01",
        DEFAULT_SLACK_REDIRECT_URIS,
    )
    .with_rotation(true)
    .with_refresh_grace_secs(grace_secs)
    // Due halfway through a life: every 1.5 s.
    .with_access_token_ttl_secs(3);
    let sandbox = Sandbox::builder().app(app.clone()).start().await.unwrap();
    // Every refresh takes 40 ms at the provider: a window for kills during the call.
    sandbox.control().inject_fault(
        Fault::new("/api/oauth.v2.access", FaultKind::Delay { millis: 40 }).times(u32::MAX),
    );
    let slack = oauth_itest::fast_slack_client(
        sandbox.base_url(),
        &app.client_id,
        app.client_secret.as_deref().unwrap(),
    )
    .unwrap();
    let keys: Vec<TokenKey> = (0..INSTALLATIONS)
        .map(|i| {
            TokenKey::bot(InstallationKey::new(
                oauth_itest::SLACK,
                format!("kill-{i}"),
            ))
        })
        .collect();
    for key in &keys {
        install(&sandbox, &slack, &store, key).await;
    }
    let names: Vec<&str> = keys.iter().map(|k| k.installation().key()).collect();
    let names = names.join(",");
    let mut workers: Vec<Worker> = (0..WORKERS)
        .map(|_| spawn(&spec, &sandbox, &app, &names))
        .collect();

    // The monitor: a marked installation is a lockout; install it again so the run goes on.
    let lockouts: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let (store, slack, keys, lockouts, stop) = (
            store.clone(),
            slack.clone(),
            keys.clone(),
            lockouts.clone(),
            stop.clone(),
        );
        let control = sandbox.control().clone();
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for key in &keys {
                    let Ok(Some(stored)) = store.get(key).await else {
                        continue;
                    };
                    if stored.needs_reauthorization.is_some() {
                        lockouts
                            .lock()
                            .unwrap()
                            .push((key.installation().key().to_owned(), Instant::now()));
                        let request = AuthorizationRequest::new()
                            .unwrap()
                            .scopes(oauth_core::Scopes::parse("chat:write"));
                        let url = slack.authorization_url(&request).unwrap();
                        let code = control
                            .authorize(&format!("{}?{}", url.path(), url.query().unwrap()))
                            .unwrap()
                            .code
                            .unwrap();
                        let grant = slack
                            .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
                            .await
                            .unwrap();
                        store
                            .save(key, grant.tokens_of(&Principal::Bot).unwrap())
                            .await
                            .unwrap();
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // The killer. Each kill: (when, per-installation points of the victim).
    let mut record: Vec<(Instant, HashMap<String, Point>)> = Vec::new();
    let mut figures = Figures::default();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // the first refreshes are due
    for n in 0..kills {
        let victim = usize::try_from(random(WORKERS as u64)).unwrap();
        let target = match n % 3 {
            0 => Some(Point::AfterAnswer),
            1 => Some(Point::DuringCall),
            _ => None,
        };
        match target {
            // Targeted: the moment the victim reports that step.
            Some(point) => {
                let deadline = Instant::now() + Duration::from_secs(3);
                while Instant::now() < deadline
                    && workers[victim].steps.lock().unwrap().worst() != point
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
            None => tokio::time::sleep(Duration::from_millis(50 + random(450))).await,
        }
        let snapshot: HashMap<String, Point> = {
            let steps = workers[victim].steps.lock().unwrap();
            keys.iter()
                .map(|k| {
                    let name = k.installation().key();
                    (name.to_owned(), steps.point(name))
                })
                .collect()
        };
        workers[victim].child.kill().unwrap(); // SIGKILL
        workers[victim].child.wait().unwrap();
        let worst = snapshot.values().copied().min().unwrap_or(Point::Elsewhere);
        *figures.kills.entry(worst).or_default() += 1;
        record.push((Instant::now(), snapshot));
        workers[victim] = spawn(&spec, &sandbox, &app, &names);
    }
    // Let the survivors take over what the last victims left, then stop everyone. Stopping is a
    // SIGKILL too, and can land inside a refresh: record where, for the final check.
    tokio::time::sleep(Duration::from_millis(LEASE_MS * 2 + 500)).await;
    for worker in &mut workers {
        let snapshot: HashMap<String, Point> = {
            let steps = worker.steps.lock().unwrap();
            keys.iter()
                .map(|k| {
                    let name = k.installation().key();
                    (name.to_owned(), steps.point(name))
                })
                .collect()
        };
        worker.child.kill().unwrap();
        worker.child.wait().unwrap();
        record.push((Instant::now(), snapshot));
    }
    tokio::time::sleep(Duration::from_millis(LEASE_MS + 200)).await; // their leases lapse
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    monitor.await.unwrap();

    // Attribute each lockout to the last kill that caught its installation mid-refresh.
    for (key, at) in lockouts.lock().unwrap().iter() {
        let point = record
            .iter()
            .rev()
            .filter(|(when, _)| when <= at)
            .map(|(_, points)| points.get(key).copied().unwrap_or(Point::Elsewhere))
            .find(|p| *p != Point::Elsewhere)
            .unwrap_or(Point::Elsewhere);
        *figures.lockouts.entry(point).or_default() += 1;
    }

    // Every installation is still refreshable, and its token works. Without a grace period, a
    // final stop that landed inside a refresh leaves a spent refresh token unmarked: the check's
    // refresh finds it, it counts as a lockout of that kill point, and is installed again as the
    // monitor does (a user would).
    let checker = TokenManager::builder(slack.clone(), store.clone())
        .config(ManagerConfig::default().lease_ttl(Duration::from_secs(2)))
        .build()
        .unwrap();
    for key in &keys {
        let stored = store.get(key).await.unwrap().unwrap();
        assert!(
            stored.needs_reauthorization.is_none(),
            "{key} is locked out at the end: {:?}",
            stored.needs_reauthorization
        );
        let tokens = match checker.force_refresh(key).await {
            Ok(tokens) => tokens,
            Err(error) if grace_secs == 0 && error.needs_reauthorization() => {
                let name = key.installation().key();
                let point = record
                    .iter()
                    .rev()
                    .map(|(_, points)| points.get(name).copied().unwrap_or(Point::Elsewhere))
                    .find(|p| *p != Point::Elsewhere)
                    .unwrap_or(Point::Elsewhere);
                *figures.lockouts.entry(point).or_default() += 1;
                install(&sandbox, &slack, &store, key).await;
                checker.force_refresh(key).await.unwrap()
            }
            Err(error) => panic!("{key} cannot be refreshed at the end: {error}"),
        };
        assert!(
            slack.introspect(&tokens.access_token).await.unwrap().active,
            "{key}: the refreshed token works"
        );
    }
    let counters = sandbox.control().counters();
    let op = "slack.oauth.v2.access.refresh_token";
    figures.refreshes = counters.app_op(&app.client_id, op);
    figures.refused = figures.refreshes
        - counters
            .per_app
            .get(&app.client_id)
            .and_then(|ops| ops.get(op))
            .map_or(0, |c| c.succeeded);
    figures.replays = counters
        .refresh_replays
        .get(&app.client_id)
        .copied()
        .unwrap_or(0);
    sandbox.shutdown().await;
    Some(figures)
}

fn print(grace_secs: u64, figures: &Figures) {
    eprintln!(
        "\nkills (grace period {grace_secs} s): {} refresh grants, {} refused, {} grace-period replays",
        figures.refreshes, figures.refused, figures.replays
    );
    eprintln!("| where the kill landed | kills | lockouts |\n| --- | --- | --- |");
    for point in [
        Point::DuringCall,
        Point::AfterAnswer,
        Point::AfterWrite,
        Point::Elsewhere,
    ] {
        eprintln!(
            "| {} | {} | {} |",
            point.label(),
            figures.kills.get(&point).copied().unwrap_or(0),
            figures.lockouts.get(&point).copied().unwrap_or(0)
        );
    }
}

fn kills_per_run() -> u64 {
    std::env::var("OAUTH_KILLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(36)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_killed_at_random_points_lose_no_installation() {
    let kills = kills_per_run();
    // With a grace period, no kill may lock an installation out: a replica that takes over
    // presents the spent refresh token within the grace period and gets the pair back.
    let Some(grace) = run(300, kills).await else {
        return;
    };
    print(300, &grace);
    assert_eq!(grace.kills.values().sum::<u64>(), kills);
    assert!(
        grace.lockouts.is_empty(),
        "lockouts with a grace period: {grace:?}"
    );
    assert_eq!(grace.refused, 0, "no refresh refused: {grace:?}");
    assert!(
        grace.kills.get(&Point::AfterAnswer).copied().unwrap_or(0) >= kills / 4,
        "the run must hit the window between the answer and the write: {grace:?}"
    );

    // Without one, the only lockouts allowed are kills between the provider processing the
    // refresh and the first write attempt (the call in flight, or answered and not written).
    let strict = run(0, kills).await.unwrap();
    print(0, &strict);
    assert_eq!(
        strict.lockouts.get(&Point::Elsewhere).copied().unwrap_or(0)
            + strict
                .lockouts
                .get(&Point::AfterWrite)
                .copied()
                .unwrap_or(0),
        0,
        "a lockout outside the crash window: {strict:?}"
    );
}
