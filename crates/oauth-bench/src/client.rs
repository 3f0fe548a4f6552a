//! Calls through `oauth-client`'s `ManagedAuth` against a bare `reqwest` call carrying a fixed
//! token, and through its tower layer around hyper-util's client against the bare hyper client;
//! same sandbox, same method (`chat.postMessage`, which the sandbox answers after checking the
//! token), at concurrency 1 and 64, measured in the same run.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::rt::TokioExecutor;
use oauth_client::tower::ManagedAuthLayer;
use oauth_client::{ManagedAuth, reqwest_middleware::ClientBuilder};
use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, MemoryTokenStore, Principal, Scopes,
    TokenProvider,
};
use oauth_manager::TokenManager;
use oauth_sandbox::Sandbox;
use tower::{Layer as _, ServiceExt as _};

use crate::report::{Report, median, ops};

const CALLS: usize = 4_000;
const ROUNDS: usize = 9;

/// Runs `CALLS` calls of `call` with `concurrency` tasks; calls per second, or `None` if a call
/// failed.
async fn rate<F, Fut>(concurrency: usize, call: F) -> Option<f64>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let started = Instant::now();
    let per_task = CALLS / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut ok = true;
                for _ in 0..per_task {
                    ok &= call().await;
                }
                ok
            })
        })
        .collect();
    for task in tasks {
        if !matches!(task.await, Ok(true)) {
            return None;
        }
    }
    Some((per_task * concurrency) as f64 / started.elapsed().as_secs_f64())
}

/// `bare` against `through` at `concurrency`: one round of each first to open the connections,
/// then `ROUNDS` rounds taking turns at going first; the table cells of the median rates and the
/// median of each round's ratio. `None` if a call failed.
async fn compare<B, BF, T, TF>(concurrency: usize, bare: B, through: T) -> Option<String>
where
    B: Fn() -> BF + Clone + Send + 'static,
    BF: std::future::Future<Output = bool> + Send,
    T: Fn() -> TF + Clone + Send + 'static,
    TF: std::future::Future<Output = bool> + Send,
{
    rate(concurrency, bare.clone()).await?;
    rate(concurrency, through.clone()).await?;
    let (mut bares, mut throughs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (b, t) = if round % 2 == 0 {
            let b = rate(concurrency, bare.clone()).await?;
            (b, rate(concurrency, through.clone()).await?)
        } else {
            let t = rate(concurrency, through.clone()).await?;
            (rate(concurrency, bare.clone()).await?, t)
        };
        bares.push(b);
        throughs.push(t);
        ratios.push(t / b);
    }
    Some(format!(
        "{} | {} | {:.2}×",
        ops(median(&mut bares)),
        ops(median(&mut throughs)),
        median(&mut ratios)
    ))
}

/// Sends `request` through the tower `service` and says whether Slack answered `{"ok":true…`.
async fn answered_ok<S, B>(
    mut service: S,
    request: http::Result<http::Request<Full<Bytes>>>,
) -> bool
where
    S: tower::Service<http::Request<Full<Bytes>>, Response = http::Response<B>>,
    B: http_body::Body,
{
    let Ok(request) = request else { return false };
    let Ok(ready) = service.ready().await else {
        return false;
    };
    match ready.call(request).await {
        Ok(answer) => answer
            .into_body()
            .collect()
            .await
            .is_ok_and(|body| body.to_bytes().starts_with(b"{\"ok\":true")),
        Err(_) => false,
    }
}

pub(crate) async fn run(report: &mut Report) {
    let mut limits = oauth_sandbox::Limits::default();
    limits.max_connections = 1_024;
    let Ok(sandbox) = Sandbox::builder().limits(limits).start().await else {
        eprintln!("client benchmark skipped: the sandbox did not start");
        return;
    };
    let api = format!(
        "{}/api/chat.postMessage",
        sandbox.base_url().trim_end_matches('/')
    );
    let Ok(slack) = oauth_slack::SlackClient::builder(oauth_sandbox::DEFAULT_SLACK_CLIENT_ID)
        .client_secret(oauth_sandbox::DEFAULT_SLACK_CLIENT_SECRET)
        .redirect_uri(oauth_sandbox::DEFAULT_SLACK_REDIRECT_URIS[0])
        .base_url(format!("{}/api/", sandbox.base_url().trim_end_matches('/')))
        .authorize_base_url(sandbox.base_url())
        .build()
    else {
        return;
    };
    let slack: Arc<dyn TokenProvider> = Arc::new(slack);
    let Ok(manager) =
        TokenManager::builder(slack.clone(), Arc::new(MemoryTokenStore::new())).build()
    else {
        return;
    };
    let Some(url) = AuthorizationRequest::new()
        .ok()
        .map(|r| r.scopes(Scopes::parse("chat:write")))
        .and_then(|r| slack.authorization_url(&r).ok())
    else {
        return;
    };
    let Some(code) = sandbox.control().authorize_code(url.as_str()) else {
        return;
    };
    let Ok(grant) = manager
        .exchange_and_save(CodeExchange::new(AuthorizationCode::new(code)))
        .await
    else {
        return;
    };
    let key = grant.token_key(Principal::Bot);
    let Ok(token) = manager.access_token(&key).await else {
        return;
    };
    let bearer = format!("Bearer {}", token.expose_secret());
    let http = reqwest::Client::new();
    let managed = ClientBuilder::new(http.clone())
        .with(ManagedAuth::new(manager.clone(), key.clone()))
        .build();
    let hyper = Hyper::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let layered = ManagedAuthLayer::new(manager.clone(), key).layer(hyper.clone());
    let mut rows = Vec::new();
    for concurrency in [1, 64] {
        let (http, api1, bearer1) = (http.clone(), api.clone(), bearer.clone());
        let bare = move || {
            let (http, api, bearer) = (http.clone(), api1.clone(), bearer1.clone());
            async move {
                match http.post(api).header("authorization", bearer).send().await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .is_ok_and(|b| b.starts_with(b"{\"ok\":true")),
                    Err(_) => false,
                }
            }
        };
        let (managed, api2) = (managed.clone(), api.clone());
        let through = move || {
            let (managed, api) = (managed.clone(), api2.clone());
            async move {
                match managed.post(api).send().await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .is_ok_and(|b| b.starts_with(b"{\"ok\":true")),
                    Err(_) => false,
                }
            }
        };
        let Some(row) = compare(concurrency, bare, through).await else {
            eprintln!("client benchmark invalid: a reqwest call failed");
            return;
        };
        rows.push(format!("| {concurrency} | reqwest | {row} |"));
    }
    for concurrency in [1, 64] {
        let request = {
            let (api, bearer) = (api.clone(), bearer.clone());
            move |with_token: bool| {
                let mut request = http::Request::post(api.as_str());
                if with_token {
                    request = request.header("authorization", bearer.as_str());
                }
                request.body(Full::new(Bytes::new()))
            }
        };
        let (hyper, bare_request) = (hyper.clone(), request.clone());
        let bare = move || {
            let (hyper, request) = (hyper.clone(), bare_request(true));
            answered_ok(hyper, request)
        };
        let layered = layered.clone();
        let through = move || {
            let (layered, request) = (layered.clone(), request(false));
            answered_ok(layered, request)
        };
        let Some(row) = compare(concurrency, bare, through).await else {
            eprintln!("client benchmark invalid: a hyper call failed");
            return;
        };
        rows.push(format!("| {concurrency} | hyper-util + tower | {row} |"));
    }
    report.section(format!(
        "## API calls with managed tokens\n\n`chat.postMessage` against oauth-sandbox (in process, loopback; the \
         sandbox checks the token and answers `{{\"ok\":true}}`), {CALLS} calls a round; a round of each to open the connections, then {ROUNDS} rounds taking turns at going first, medians (the ratio is the median of each round's): \
         through `oauth-client`'s `ManagedAuth` (the token from the `TokenManager`'s cache, the Slack body read to \
         check for a refused token) against a bare `reqwest` call with a fixed `Authorization` header, and through \
         its tower layer `ManagedAuthLayer` around hyper-util's client against that client bare, in the same \
         run. Target: at least 0.95× at concurrency 64.\n\n\
         | concurrency | client | bare, fixed token | through the managed layer | ratio |\n| --- | --- | --- | --- | --- |\n{}\n",
        rows.join("\n")
    ));
    sandbox.shutdown().await;
}
