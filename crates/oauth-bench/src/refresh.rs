//! Refresh-grant throughput and latency: our clients against the floor (a raw `reqwest` +
//! `serde_json` request of the same shape) and the `oauth2` crate, on the same sandbox endpoint,
//! interleaved round by round so that drift hits every client alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth_core::http::DEFAULT_USER_AGENT;
use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, RefreshToken, Scopes, TokenGrant,
    TokenProvider,
};
use oauth_notion::NotionClient;
use oauth_sandbox::{
    DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET, DEFAULT_SLACK_CLIENT_ID,
    DEFAULT_SLACK_CLIENT_SECRET, Sandbox, SandboxHandle,
};
use oauth_slack::SlackClient;

use crate::report::{Report, median};

const ROUNDS: usize = 25;

/// How long each client runs in each round (per concurrency).
const ROUND_TIME: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Variant {
    SlackFloor,
    SlackOurs,
    SlackOauth2,
    SlackOauth2NoTimeout,
    NotionFloor,
    NotionOurs,
}

impl Variant {
    pub(crate) const ALL: [Variant; 6] = [
        Variant::SlackFloor,
        Variant::SlackOurs,
        Variant::SlackOauth2,
        Variant::SlackOauth2NoTimeout,
        Variant::NotionFloor,
        Variant::NotionOurs,
    ];

    /// A short name for the command line.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Variant::SlackFloor => "slack-floor",
            Variant::SlackOurs => "slack-ours",
            Variant::SlackOauth2 => "slack-oauth2",
            Variant::SlackOauth2NoTimeout => "slack-oauth2-no-timeout",
            Variant::NotionFloor => "notion-floor",
            Variant::NotionOurs => "notion-ours",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Variant::SlackFloor => "raw reqwest + serde_json (floor)",
            Variant::SlackOurs => "oauth-slack `TokenGrant::refresh`",
            Variant::SlackOauth2 => "oauth2 5 `exchange_refresh_token`",
            Variant::SlackOauth2NoTimeout => {
                "oauth2 5 `exchange_refresh_token`, client as documented (no timeouts, no `User-Agent`)"
            }
            Variant::NotionFloor => "raw reqwest + serde_json (floor)",
            Variant::NotionOurs => "oauth-notion `TokenGrant::refresh`",
        }
    }
    pub(crate) fn slack(self) -> bool {
        matches!(
            self,
            Variant::SlackFloor
                | Variant::SlackOurs
                | Variant::SlackOauth2
                | Variant::SlackOauth2NoTimeout
        )
    }
}

struct Clients {
    base: String,
    raw: reqwest::Client,
    slack: Arc<SlackClient>,
    notion: Arc<NotionClient>,
    oauth2_http: oauth2::reqwest::Client,
    oauth2_http_no_timeout: oauth2::reqwest::Client,
    oauth2: oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
}

#[derive(serde::Deserialize)]
struct RawTokens {
    refresh_token: String,
}

impl Clients {
    async fn refresh(&self, variant: Variant, refresh: String) -> Result<String, String> {
        match variant {
            Variant::SlackFloor => {
                let response = self
                    .raw
                    .post(format!("{}/api/oauth.v2.access", self.base))
                    .form(&[
                        ("client_id", DEFAULT_SLACK_CLIENT_ID),
                        ("client_secret", DEFAULT_SLACK_CLIENT_SECRET),
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh.as_str()),
                    ])
                    .header(reqwest::header::ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let bytes = response.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice::<RawTokens>(&bytes)
                    .map(|t| t.refresh_token)
                    .map_err(|e| e.to_string())
            }
            Variant::NotionFloor => {
                let response = self
                    .raw
                    .post(format!("{}/v1/oauth/token", self.base))
                    .basic_auth(DEFAULT_NOTION_CLIENT_ID, Some(DEFAULT_NOTION_CLIENT_SECRET))
                    .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh}))
                    .header("notion-version", "2025-09-03")
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let bytes = response.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice::<RawTokens>(&bytes)
                    .map(|t| t.refresh_token)
                    .map_err(|e| e.to_string())
            }
            Variant::SlackOurs => self
                .slack
                .refresh(&RefreshToken::new(refresh))
                .await
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    t.refresh_token
                        .map(|r| r.expose_secret().to_owned())
                        .ok_or_else(|| "no refresh token".into())
                }),
            Variant::NotionOurs => self
                .notion
                .refresh(&RefreshToken::new(refresh))
                .await
                .map_err(|e| e.to_string())
                .and_then(|t| {
                    t.refresh_token
                        .map(|r| r.expose_secret().to_owned())
                        .ok_or_else(|| "no refresh token".into())
                }),
            Variant::SlackOauth2 | Variant::SlackOauth2NoTimeout => {
                use oauth2::TokenResponse as _;
                let http = if variant == Variant::SlackOauth2 {
                    &self.oauth2_http
                } else {
                    &self.oauth2_http_no_timeout
                };
                let token = self
                    .oauth2
                    .exchange_refresh_token(&oauth2::RefreshToken::new(refresh))
                    .request_async(http)
                    .await
                    .map_err(|e| e.to_string())?;
                token
                    .refresh_token()
                    .map(|r| r.secret().clone())
                    .ok_or_else(|| "no refresh token".into())
            }
        }
    }
}

async fn install(sandbox: &SandboxHandle, clients: &Clients, slack: bool) -> Option<String> {
    let provider: Arc<dyn TokenProvider> = if slack {
        clients.slack.clone()
    } else {
        clients.notion.clone()
    };
    let mut request = AuthorizationRequest::new().ok()?;
    if slack {
        request = request.scopes(Scopes::parse("chat:write"));
    }
    let url = provider.authorization_url(&request).ok()?;
    let code = sandbox
        .control()
        .authorize(&format!("{}?{}", url.path(), url.query()?))
        .ok()?
        .code?;
    let grant = provider
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .ok()?;
    let tokens = &grant.primary()?.tokens;
    Some(tokens.refresh_token.as_ref()?.expose_secret().to_owned())
}

/// One round: `workers` chains of refreshes for [`ROUND_TIME`]; throughput and every latency.
async fn round(
    sandbox: &SandboxHandle,
    clients: &Arc<Clients>,
    variant: Variant,
    workers: usize,
) -> Option<(f64, Vec<Duration>)> {
    let mut starts = Vec::new();
    for _ in 0..workers {
        starts.push(install(sandbox, clients, variant.slack()).await?);
    }
    let started = Instant::now();
    let deadline = started + ROUND_TIME;
    let handles: Vec<_> = starts
        .into_iter()
        .map(|mut refresh| {
            let clients = clients.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(4096);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    refresh = clients.refresh(variant, refresh).await?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        match handle.await {
            Ok(Ok(latencies)) => all.extend(latencies),
            Ok(Err(e)) => {
                eprintln!("refresh benchmark: {variant:?} failed: {e}");
                return None;
            }
            Err(e) => {
                eprintln!("refresh benchmark: {variant:?} task failed: {e}");
                return None;
            }
        }
    }
    Some((all.len() as f64 / started.elapsed().as_secs_f64(), all))
}

/// The first and third quartiles of `values`.
fn quartiles(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let index = ((values.len() as f64 - 1.0) * p).round() as usize;
        values.get(index).copied().unwrap_or(f64::NAN)
    };
    (at(0.25), at(0.75))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// A fresh sandbox and clients for one measurement: the sandbox keeps every token it mints, so a
/// long-lived one would slow down from one client to the next.
async fn fresh() -> Result<(SandboxHandle, Arc<Clients>), String> {
    let sandbox = Sandbox::builder()
        .start()
        .await
        .map_err(|e| format!("the sandbox did not start: {e}"))?;
    let base = sandbox.base_url().to_owned();
    let clients = Clients {
        base: base.clone(),
        // Configured as our transport: no redirects, the same timeouts and `User-Agent`.
        raw: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(DEFAULT_USER_AGENT)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?,
        slack: Arc::new(
            SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
                .client_secret(DEFAULT_SLACK_CLIENT_SECRET)
                .base_url(format!("{base}/api/"))
                .authorize_base_url(format!("{base}/"))
                .build()
                .map_err(|e| e.to_string())?,
        ),
        notion: Arc::new(
            NotionClient::builder(DEFAULT_NOTION_CLIENT_ID, DEFAULT_NOTION_CLIENT_SECRET)
                .base_url(base.clone())
                .redirect_uri(oauth_sandbox::DEFAULT_NOTION_REDIRECT_URIS[0])
                .build()
                .map_err(|e| e.to_string())?,
        ),
        // Configured as the floor's client (and our transport): no redirects, the same timeouts
        // and `User-Agent`.
        oauth2_http: oauth2::reqwest::ClientBuilder::new()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .user_agent(DEFAULT_USER_AGENT)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?,
        // As oauth2's documentation builds it: no redirects, no timeouts and no `User-Agent`.
        oauth2_http_no_timeout: oauth2::reqwest::ClientBuilder::new()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        oauth2: oauth2::basic::BasicClient::new(oauth2::ClientId::new(
            DEFAULT_SLACK_CLIENT_ID.into(),
        ))
        .set_client_secret(oauth2::ClientSecret::new(
            DEFAULT_SLACK_CLIENT_SECRET.into(),
        ))
        .set_token_uri(
            oauth2::TokenUrl::new(format!("{base}/api/oauth.v2.access"))
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok((sandbox, Arc::new(clients)))
}

pub(crate) async fn run(report: &mut Report) {
    let groups: [(&str, &[Variant]); 2] = [
        (
            "Slack `oauth.v2.access` refresh",
            &[
                Variant::SlackFloor,
                Variant::SlackOurs,
                Variant::SlackOauth2,
                Variant::SlackOauth2NoTimeout,
            ],
        ),
        (
            "Notion `POST /v1/oauth/token` refresh",
            &[Variant::NotionFloor, Variant::NotionOurs],
        ),
    ];
    let mut rows = String::new();
    let mut peers = String::new();
    for (title, variants) in groups {
        for workers in [1usize, 64] {
            let mut throughput: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
            let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
            for r in 0..ROUNDS {
                // Each round starts with another client, so that no client always runs first.
                for k in 0..variants.len() {
                    let i = (r + k) % variants.len();
                    let variant = &variants[i];
                    let (sandbox, clients) = match fresh().await {
                        Ok(fresh) => fresh,
                        Err(e) => {
                            eprintln!("refresh benchmark skipped: {e}");
                            return;
                        }
                    };
                    let measured = round(&sandbox, &clients, *variant, workers).await;
                    sandbox.shutdown().await;
                    let Some((rate, mut lat)) = measured else {
                        return;
                    };
                    eprintln!(
                        "refresh: round {r}, {variant:?}, concurrency {workers}: {rate:.0}/s"
                    );
                    throughput[i].push(rate);
                    latencies[i].append(&mut lat);
                }
            }
            // Ours against each other client directly, paired within each round as well.
            if let Some(ours) = variants.iter().position(|v| *v == Variant::SlackOurs) {
                for (j, peer) in variants.iter().enumerate() {
                    if matches!(peer, Variant::SlackOauth2 | Variant::SlackOauth2NoTimeout) {
                        let mut ratios: Vec<f64> = throughput[ours]
                            .iter()
                            .zip(&throughput[j])
                            .map(|(rate, peer)| rate / peer)
                            .collect();
                        let ratio = median(&mut ratios);
                        let (low, high) = quartiles(&mut ratios);
                        let wins = ratios.iter().filter(|r| **r > 1.0).count();
                        peers.push_str(&format!(
                            "| {} | {workers} | {ratio:.3}× ({low:.3}–{high:.3}) | {wins} of {} |\n",
                            peer.name(),
                            ratios.len(),
                        ));
                    }
                }
            }
            // Each round's throughput relative to the floor's in the same round: the machine's
            // drift between rounds (large on a shared VM) cancels out of the ratio.
            for (i, variant) in variants.iter().enumerate() {
                let mut ratios: Vec<f64> = throughput[i]
                    .iter()
                    .zip(&throughput[0])
                    .map(|(rate, floor)| rate / floor)
                    .collect();
                let ratio = median(&mut ratios);
                let (low, high) = quartiles(&mut ratios);
                let rate = median(&mut throughput[i].clone());
                latencies[i].sort();
                rows.push_str(&format!(
                    "| {title} | {} | {workers} | {:.0}/s | {:.2} ms | {:.2} ms | {:.2}× ({:.2}–{:.2}) |\n",
                    variant.name(),
                    rate,
                    percentile(&latencies[i], 0.5).as_secs_f64() * 1e3,
                    percentile(&latencies[i], 0.99).as_secs_f64() * 1e3,
                    ratio,
                    low,
                    high,
                ));
            }
        }
    }
    report.section(format!(
        "## Refresh grants against peers\n\nChained refresh grants (each worker spends its refresh token and uses the \
         rotated one) against oauth-sandbox in process on loopback (a fresh sandbox and fresh clients for every measurement, so that \
         no client meets a sandbox grown by the others); every client talks to the same endpoint with the \
         same request shape (Slack: form body with client credentials and `Accept: application/json`, except `oauth2`, \
         which sends the credentials as HTTP Basic; Notion: JSON with HTTP Basic and `Notion-Version`), and every HTTP \
         client has the same settings: reqwest, no redirects, a 30 s timeout, a 10 s connect timeout and our \
         `User-Agent` (our transport's defaults; on loopback every header is a measurable part of a request's cost). \
         The row \"client as documented\" is `oauth2` with the client its documentation builds (no timeouts, so one \
         timer less per request, and no `User-Agent`), for reference. {ROUNDS} rounds of {:.1} s per client, the clients \
         interleaved and each round started by the next client; throughput is the median of the rounds, latencies are over all requests. The last column is the median over the rounds of each \
         round's throughput relative to the raw `reqwest` floor's in the same round (same provider and concurrency), \
         with the interquartile range in brackets: pairing within a round cancels the machine's drift between rounds. The sandbox shares the machine's cores with the \
         clients, so absolute figures are lower bounds; the floor rows are also the sandbox's own capacity for \
         refresh grants on this machine (a refresh rotates both tokens and is logged and counted).\n\n\
         | endpoint | client | concurrency | throughput | p50 | p99 | vs floor |\n| --- | --- | --- | --- | --- | --- | --- |\n{rows}\n\
         `oauth-slack` against `oauth2` directly: the median over the rounds of our throughput divided by `oauth2`'s \
         in the same round (interquartile range in brackets), and in how many rounds ours was the faster.\n\n\
         | against | concurrency | oauth-slack / peer | rounds won |\n| --- | --- | --- | --- |\n{peers}",
        ROUND_TIME.as_secs_f64()
    ));
}

/// `count` chained refreshes by one client on one task against a fresh sandbox, nothing else: what
/// the instruction-count section runs under valgrind.
pub(crate) async fn run_one(variant: Variant, count: usize) -> Result<(), String> {
    let (sandbox, clients) = fresh().await?;
    let mut refresh = install(&sandbox, &clients, variant.slack())
        .await
        .ok_or("the installation failed")?;
    for _ in 0..count {
        refresh = clients.refresh(variant, refresh).await?;
    }
    sandbox.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last refresh request the sandbox received: its method, path, headers (but the length,
    /// which follows the tokens) and the names of its body's parameters.
    fn last_refresh(
        sandbox: &SandboxHandle,
    ) -> (String, String, Vec<(String, String)>, Vec<String>) {
        let request = sandbox
            .control()
            .requests()
            .into_iter()
            .last()
            .expect("a recorded request");
        let headers = request
            .headers
            .into_iter()
            .filter(|(name, _)| name != "content-length")
            .collect();
        let body = String::from_utf8(request.body).expect("a UTF-8 body");
        let params = if body.starts_with('{') {
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&body).expect("a JSON body");
            json.keys().cloned().collect()
        } else {
            url::form_urlencoded::parse(body.as_bytes())
                .map(|(name, _)| name.into_owned())
                .collect()
        };
        (request.method, request.path, headers, params)
    }

    /// The floor is a raw request of the same shape as ours: same method, path, headers and
    /// parameters, for both providers (so that the comparison measures the client, not the
    /// request).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_floor_sends_the_request_ours_sends() {
        for (floor, ours) in [
            (Variant::SlackFloor, Variant::SlackOurs),
            (Variant::NotionFloor, Variant::NotionOurs),
        ] {
            let (sandbox, clients) = fresh().await.expect("a sandbox and clients");
            let mut seen = Vec::new();
            for variant in [floor, ours] {
                let refresh = install(&sandbox, &clients, variant.slack())
                    .await
                    .expect("a refresh token");
                clients.refresh(variant, refresh).await.expect("a refresh");
                seen.push(last_refresh(&sandbox));
            }
            assert_eq!(seen[0], seen[1], "{floor:?} against {ours:?}");
            assert!(
                seen[0]
                    .2
                    .iter()
                    .any(|(name, value)| name == "user-agent" && value == DEFAULT_USER_AGENT),
                "{:?}",
                seen[0].2
            );
            sandbox.shutdown().await;
        }
    }
}
