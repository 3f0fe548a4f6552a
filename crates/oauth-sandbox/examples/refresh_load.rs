//! Measures the sandbox's throughput for refresh grants (Slack `oauth.v2.access` with rotation and
//! Notion `/v1/oauth/token`) at concurrency 1 and 64.
//!
//! `cargo run --release -p oauth-sandbox --example refresh_load [seconds-per-scenario] [--url URL]`
//!
//! Without `--url` the sandbox runs in this process (client and server share the machine's
//! cores). With `--url` it loads an already running sandbox, e.g. the release binary in another
//! process (`cargo run --release -p oauth-sandbox -- --addr 127.0.0.1:8787`), through the HTTP
//! control API (which it resets before each scenario).
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, Sandbox, SandboxHandle,
};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Slack,
    Notion,
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

async fn json_of(r: reqwest::RequestBuilder) -> Value {
    let bytes = r.send().await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn authorize(http: &reqwest::Client, base: &str, url: String) -> String {
    let v = json_of(
        http.post(format!("{base}/_sandbox/authorize"))
            .header("content-type", "application/json")
            .body(json!({ "url": url }).to_string()),
    )
    .await;
    v["code"].as_str().unwrap().to_owned()
}

async fn slack_token(http: &reqwest::Client, base: &str, pairs: &[(&str, &str)]) -> Value {
    let mut all = vec![
        ("client_id", DEFAULT_SLACK_CLIENT_ID),
        ("client_secret", DEFAULT_SLACK_CLIENT_SECRET),
    ];
    all.extend_from_slice(pairs);
    json_of(
        http.post(format!("{base}/api/oauth.v2.access"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&all)),
    )
    .await
}

async fn notion_token(http: &reqwest::Client, base: &str, body: Value) -> Value {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{DEFAULT_NOTION_CLIENT_ID}:{DEFAULT_NOTION_CLIENT_SECRET}"
    ));
    json_of(
        http.post(format!("{base}/v1/oauth/token"))
            .header("authorization", format!("Basic {auth}"))
            .header("notion-version", "2025-09-03")
            .header("content-type", "application/json")
            .body(body.to_string()),
    )
    .await
}

async fn initial_refresh_token(http: &reqwest::Client, base: &str, target: Target) -> String {
    let v = match target {
        Target::Slack => {
            let url =
                format!("/oauth/v2/authorize?client_id={DEFAULT_SLACK_CLIENT_ID}&scope=chat:write");
            let code = authorize(http, base, url).await;
            slack_token(http, base, &[("code", &code)]).await
        }
        Target::Notion => {
            let redirect = "http://127.0.0.1/callback/notion";
            let url = format!(
                "/v1/oauth/authorize?client_id={DEFAULT_NOTION_CLIENT_ID}&response_type=code&owner=user&redirect_uri={}",
                url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
            );
            let code = authorize(http, base, url).await;
            let body =
                json!({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect});
            notion_token(http, base, body).await
        }
    };
    v["refresh_token"].as_str().unwrap().to_owned()
}

async fn refresh(http: &reqwest::Client, base: &str, target: Target, rt: &str) -> String {
    let v = match target {
        Target::Slack => {
            slack_token(
                http,
                base,
                &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            )
            .await
        }
        Target::Notion => {
            notion_token(
                http,
                base,
                json!({"grant_type": "refresh_token", "refresh_token": rt}),
            )
            .await
        }
    };
    v["refresh_token"]
        .as_str()
        .expect("refresh failed")
        .to_owned()
}

async fn scenario(target: Target, concurrency: usize, secs: u64, url: Option<&str>) -> f64 {
    let local: Option<SandboxHandle> = match url {
        Some(_) => None,
        None => Some(Sandbox::builder().start().await.unwrap()),
    };
    let base: Arc<str> = Arc::from(url.unwrap_or_else(|| local.as_ref().unwrap().base_url()));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    http.post(format!("{base}/_sandbox/reset"))
        .send()
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for _ in 0..concurrency {
        tokens.push(initial_refresh_token(&http, &base, target).await);
    }
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut rt in tokens {
        let (http, base, done) = (http.clone(), Arc::clone(&base), Arc::clone(&done));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                rt = refresh(&http, &base, target, &rt).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let op = match target {
        Target::Slack => "slack.oauth.v2.access.refresh_token",
        Target::Notion => "notion.token.refresh_token",
    };
    let counters = json_of(http.get(format!("{base}/_sandbox/counters"))).await;
    assert_eq!(
        counters["per_operation"][op]["succeeded"].as_u64(),
        Some(n),
        "every refresh reached the sandbox and was counted"
    );
    if let Some(sb) = local {
        sb.shutdown().await;
    }
    n as f64 / elapsed
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .iter()
        .position(|a| a == "--url")
        .and_then(|i| args.get(i + 1))
        .map(|u| u.trim_end_matches('/').to_owned());
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    match &url {
        Some(u) => println!("refresh grants against {u} (another process), {secs} s per scenario"),
        None => {
            println!("refresh grants, client and sandbox in one process, {secs} s per scenario")
        }
    }
    for target in [Target::Slack, Target::Notion] {
        for concurrency in [1, 64] {
            let rps = rt.block_on(scenario(target, concurrency, secs, url.as_deref()));
            println!("{target:?} refresh, concurrency {concurrency:>2}: {rps:>9.0} requests/s");
        }
    }
}
