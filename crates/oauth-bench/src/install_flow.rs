//! The install flow's routes against oauth-sandbox: install-route and callback-route requests per
//! second, with each used-state store (memory, SQLite, PostgreSQL), against the same flow without
//! the browser binding (its unbound `start`/`finish` behind a minimal route) and against the
//! previous design (a server-side `MemoryStateStore`, which the sealed state replaced), all in the
//! same run; and, in process, what the binding adds to starting an install.
//!
//! Every round starts a fresh sandbox and measures each variant once, in an order that rotates
//! with the round; the ratios are paired per round (each variant against the unbound flow of the
//! same round), then the median taken.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oauth_core::{
    AuthorizationRequest, CodeExchange, CsrfState, MemoryStateStore, MemoryTokenStore,
    MemoryUsedStates, PendingAuthorization, Scopes, StateStore, UsedStates, verify_callback,
};
use oauth_facade::install::{InstallFlow, InstallOptions};
use oauth_facade::{ProviderConfig, ProviderKind};
use oauth_manager::TokenManager;
use oauth_sandbox::{Sandbox, SandboxHandle};

use crate::report::{Report, median, ops};

const ROUNDS: usize = 5;
/// Install-route requests per measurement.
const INSTALLS: usize = 30_000;
/// Callbacks per measurement (each a code exchange at the sandbox).
const CALLBACKS: usize = 1_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 32;
/// In-process starts per measurement of the binding's own cost.
const STARTS: usize = 20_000;

/// What serves the routes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// The router, bound to the browser, with this used-state store.
    Bound(Store),
    /// The same flow's `start`/`finish`, no cookie, behind a minimal route.
    Unbound,
    /// The design before the sealed state: a server-side `MemoryStateStore`, no cookie.
    Previous,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    Memory,
    Sqlite,
    Postgres,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Bound(Store::Memory) => "bound to the browser, used states in memory",
            Variant::Bound(Store::Sqlite) => "bound to the browser, used states in SQLite",
            Variant::Bound(Store::Postgres) => "bound to the browser, used states in PostgreSQL",
            Variant::Unbound => "the same flow without the cookie (baseline)",
            Variant::Previous => "previous design: server-side MemoryStateStore, no cookie",
        }
    }
}

/// The used-state stores, made once (the SQLite file and the PostgreSQL database live for the
/// run).
struct Stores {
    sqlite: Arc<dyn UsedStates>,
    postgres: Option<Arc<dyn UsedStates>>,
    _dir: tempfile::TempDir,
}

async fn stores() -> Option<Stores> {
    let dir = tempfile::tempdir().ok()?;
    let sqlite = oauth_store::SqliteTokenStore::open(dir.path().join("used.sqlite3"))
        .await
        .ok()?;
    let postgres = match std::env::var("OAUTH_TEST_POSTGRES_URL") {
        Ok(url) => match oauth_store::PostgresTokenStore::connect(&url).await {
            Ok(store) => Some(Arc::new(store) as Arc<dyn UsedStates>),
            Err(e) => {
                eprintln!("install-flow benchmark: PostgreSQL unusable ({e}): its row is skipped");
                None
            }
        },
        Err(_) => {
            eprintln!(
                "install-flow benchmark: no PostgreSQL (OAUTH_TEST_POSTGRES_URL unset): its row is skipped"
            );
            None
        }
    };
    Some(Stores {
        sqlite: Arc::new(sqlite),
        postgres,
        _dir: dir,
    })
}

/// A server on a loopback port, stopped when dropped.
struct Server {
    base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: tokio::net::TcpListener, router: Router) -> Server {
    let base = format!(
        "http://{}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Server { base, task }
}

/// The previous design's routes: the state saved in memory at the install route, taken at the
/// callback (what `InstallFlow` did before its state was sealed).
struct Previous {
    manager: TokenManager,
    states: MemoryStateStore,
    redirect_uri: String,
}

async fn previous_install(State(flow): State<Arc<Previous>>) -> Response {
    let started = (|| {
        let request = AuthorizationRequest::with_state(CsrfState::generate()?)
            .redirect_uri(flow.redirect_uri.clone())
            .scopes(Scopes::parse("chat:write"));
        let url = flow.manager.provider().authorization_url(&request)?;
        let pending = PendingAuthorization::from_request(
            &request,
            flow.manager.provider().provider_id(),
            SystemTime::now(),
        );
        Ok::<_, oauth_core::Error>((request, url, pending))
    })();
    match started {
        Ok((request, url, pending)) => match flow.states.save(request.state(), pending).await {
            Ok(()) => (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn previous_callback(
    State(flow): State<Arc<Previous>>,
    RawQuery(query): RawQuery,
) -> Response {
    let verified = match verify_callback(query.as_deref().unwrap_or(""), &flow.states).await {
        Ok(verified) => verified,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    match flow
        .manager
        .exchange_and_save(CodeExchange::from_callback(verified))
        .await
    {
        Ok(_) => "Installed".into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn unbound_install(State(flow): State<InstallFlow>) -> Response {
    match flow.start().await {
        Ok(url) => (StatusCode::FOUND, [(header::LOCATION, url)]).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn unbound_callback(State(flow): State<InstallFlow>, RawQuery(query): RawQuery) -> Response {
    match flow.finish(query.as_deref().unwrap_or("")).await {
        Ok(_) => "Installed".into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

/// A Slack app serving `variant` on a fresh loopback port.
async fn app(sandbox: &SandboxHandle, variant: Variant, stores: &Stores) -> Option<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let redirect_uri = format!("http://{}/callback/slack", listener.local_addr().ok()?);
    let provider = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .redirect_uri(redirect_uri.clone())
        .build()
        .ok()?;
    let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
        .build()
        .ok()?;
    let used: Arc<dyn UsedStates> = match variant {
        Variant::Bound(Store::Sqlite) => stores.sqlite.clone(),
        Variant::Bound(Store::Postgres) => stores.postgres.clone()?,
        _ => Arc::new(MemoryUsedStates::new()),
    };
    let flow = InstallFlow::builder(manager.clone(), redirect_uri.clone())
        .scopes(Scopes::parse("chat:write"))
        .used_states(used)
        .build()
        .ok()?;
    let router = match variant {
        Variant::Bound(_) => flow.router("/install", "/callback/slack"),
        Variant::Unbound => Router::new()
            .route("/install", get(unbound_install))
            .route("/callback/slack", get(unbound_callback))
            .with_state(flow),
        Variant::Previous => Router::new()
            .route("/install", get(previous_install))
            .route("/callback/slack", get(previous_callback))
            .with_state(Arc::new(Previous {
                manager,
                states: MemoryStateStore::new(),
                redirect_uri,
            })),
    };
    Some(serve(listener, router).await)
}

fn client() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .ok()
}

/// `requests` spread over `CONCURRENCY` tasks; each must answer `expected`. Requests per second.
async fn rate(requests: Vec<(String, Option<String>)>, expected: u16) -> Option<f64> {
    let client = client()?;
    let total = requests.len();
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, requests, next) = (client.clone(), requests.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((url, cookie)) = requests.get(at) else {
                        return true;
                    };
                    let mut request = client.get(url);
                    if let Some(cookie) = cookie {
                        request = request.header(header::COOKIE, cookie);
                    }
                    match request.send().await {
                        Ok(answer) if answer.status().as_u16() == expected => {}
                        _ => return false,
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        if !worker.await.ok()? {
            return None;
        }
    }
    Some(total as f64 / started.elapsed().as_secs_f64())
}

/// Callbacks ready to send: install route, then the sandbox's consent (in process, unmeasured).
async fn prepare(sandbox: &SandboxHandle, base: &str) -> Option<Vec<(String, Option<String>)>> {
    let client = client()?;
    let mut prepared = Vec::with_capacity(CALLBACKS);
    for _ in 0..CALLBACKS {
        let install = client.get(format!("{base}/install")).send().await.ok()?;
        let authorize = install.headers().get(header::LOCATION)?.to_str().ok()?;
        let cookie = install
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_owned);
        let callback = sandbox.control().authorize(authorize).ok()?.location?;
        prepared.push((callback, cookie));
    }
    Some(prepared)
}

/// One variant, once: (install route requests/s, callback route requests/s).
async fn measure(sandbox: &SandboxHandle, variant: Variant, stores: &Stores) -> Option<(f64, f64)> {
    let server = app(sandbox, variant, stores).await?;
    let installs = vec![(format!("{}/install", server.base), None); INSTALLS];
    let install_rate = rate(installs, 302).await?;
    let callbacks = prepare(sandbox, &server.base).await?;
    let callback_rate = rate(callbacks, 200).await?;
    Some((install_rate, callback_rate))
}

/// In process: starting `STARTS` installs bound to a browser, and `STARTS` unbound, in µs each.
async fn binding_cost(sandbox: &SandboxHandle) -> Option<(f64, f64)> {
    let provider = ProviderConfig::sandbox(ProviderKind::Slack, sandbox.base_url())
        .redirect_uri("http://127.0.0.1:9/callback/slack")
        .build()
        .ok()?;
    let manager = TokenManager::builder(provider, Arc::new(MemoryTokenStore::new()))
        .build()
        .ok()?;
    let flow = InstallFlow::builder(manager, "http://127.0.0.1:9/callback/slack")
        .scopes(Scopes::parse("chat:write"))
        .build()
        .ok()?;
    let options = InstallOptions::new();
    let started = Instant::now();
    for _ in 0..STARTS {
        std::hint::black_box(flow.start_bound(&options).await.ok()?);
    }
    let bound = started.elapsed().as_secs_f64() * 1e6 / STARTS as f64;
    let started = Instant::now();
    for _ in 0..STARTS {
        std::hint::black_box(flow.start().await.ok()?);
    }
    let unbound = started.elapsed().as_secs_f64() * 1e6 / STARTS as f64;
    Some((bound, unbound))
}

pub(crate) async fn run(report: &mut Report) {
    let Some(stores) = stores().await else {
        eprintln!("install-flow benchmark skipped: no SQLite store");
        return;
    };
    let mut variants = vec![
        Variant::Unbound,
        Variant::Bound(Store::Memory),
        Variant::Bound(Store::Sqlite),
    ];
    if stores.postgres.is_some() {
        variants.push(Variant::Bound(Store::Postgres));
    }
    variants.push(Variant::Previous);
    // Per variant: install rates, callback rates, and their ratios to the round's baseline.
    let mut figures: Vec<[Vec<f64>; 4]> = variants.iter().map(|_| Default::default()).collect();
    let (mut bound_us, mut unbound_us, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let Ok(sandbox) = Sandbox::builder().start().await else {
            eprintln!("install-flow benchmark skipped: the sandbox did not start");
            return;
        };
        let mut measured = vec![None; variants.len()];
        for offset in 0..variants.len() {
            let at = (round + offset) % variants.len();
            measured[at] = measure(&sandbox, variants[at], &stores).await;
            if measured[at].is_none() {
                eprintln!(
                    "install-flow benchmark invalid: {} failed a request",
                    variants[at].name()
                );
                return;
            }
        }
        let Some(Some((base_install, base_callback))) = measured.first().copied() else {
            return;
        };
        for (at, figure) in measured.into_iter().enumerate() {
            let Some((install, callback)) = figure else {
                return;
            };
            let [installs, callbacks, install_ratio, callback_ratio] = &mut figures[at];
            installs.push(install);
            callbacks.push(callback);
            install_ratio.push(install / base_install);
            callback_ratio.push(callback / base_callback);
        }
        let Some((bound, unbound)) = binding_cost(&sandbox).await else {
            return;
        };
        bound_us.push(bound);
        unbound_us.push(unbound);
        added.push(bound - unbound);
        drop(sandbox);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut rows = String::new();
    for (variant, figure) in variants.iter().zip(figures.iter_mut()) {
        let [installs, callbacks, install_ratio, callback_ratio] = figure;
        rows.push_str(&format!(
            "| {} | {} | {:.2}× | {} | {:.2}× |\n",
            variant.name(),
            ops(median(installs)),
            median(install_ratio),
            ops(median(callbacks)),
            median(callback_ratio),
        ));
    }
    report.section(format!(
        "## Install flow: install and callback routes\n\n\
         A Slack app's install flow on loopback against oauth-sandbox, {CONCURRENCY} requests in \
         flight: {INSTALLS} `GET /install` (answered 302 to the provider, with the browser's cookie \
         where bound), then {CALLBACKS} callbacks, each with its cookie where bound, prepared \
         beforehand (install route, then the sandbox's consent in process, unmeasured); a callback \
         checks the state, records its use, exchanges the code at the sandbox (`oauth.v2.access`) \
         and saves the grant in a memory token store. The baseline is the same flow without the \
         browser binding (`InstallFlow::start`/`finish` behind a minimal route, so also without \
         the router's pages and security headers); the previous design kept each pending state \
         in a server-side `MemoryStateStore`, which beyond 10,000 pending states scans them all \
         to drop the oldest at every install (and so evicts real users' installs). Medians of \
         {ROUNDS} rounds, a fresh sandbox each, ratios paired per round. The install route stores \
         nothing, whatever the used-state store: it is only written by callbacks, each with one \
         durable commit in SQLite (`synchronous = FULL`) and PostgreSQL, which bounds those rows.\n\n\
         | Variant | install route | × baseline | callback route | × baseline |\n\
         | --- | ---: | ---: | ---: | ---: |\n{rows}\n\
         In process, without HTTP: starting an install bound to a browser \
         (`InstallFlow::start_bound`: the sealed state plus a 256-bit cookie secret, its SHA-256 \
         and the `Set-Cookie` value) takes {:.2} µs, against {:.2} µs unbound (`start`): the \
         binding adds {:.2} µs ({STARTS} starts each, medians of {ROUNDS} rounds).\n",
        median(&mut bound_us),
        median(&mut unbound_us),
        median(&mut added),
    ));
}
