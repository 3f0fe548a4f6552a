//! Refresh-grant throughput and latency: our clients against the floor (a raw `reqwest` +
//! `serde_json` request of the same shape) and the `oauth2` crate, on the same sandbox endpoint,
//! interleaved round by round so that drift hits every client alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

const ROUNDS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    SlackFloor,
    SlackOurs,
    SlackOauth2,
    NotionFloor,
    NotionOurs,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::SlackFloor => "raw reqwest + serde_json (floor)",
            Variant::SlackOurs => "oauth-slack `TokenGrant::refresh`",
            Variant::SlackOauth2 => "oauth2 5 `exchange_refresh_token`",
            Variant::NotionFloor => "raw reqwest + serde_json (floor)",
            Variant::NotionOurs => "oauth-notion `TokenGrant::refresh`",
        }
    }
    fn slack(self) -> bool {
        matches!(
            self,
            Variant::SlackFloor | Variant::SlackOurs | Variant::SlackOauth2
        )
    }
}

struct Clients {
    base: String,
    raw: reqwest::Client,
    slack: Arc<SlackClient>,
    notion: Arc<NotionClient>,
    oauth2_http: oauth2::reqwest::Client,
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
                    .header("notion-version", "2025-09-03")
                    .json(&serde_json::json!({"grant_type": "refresh_token", "refresh_token": refresh}))
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
            Variant::SlackOauth2 => {
                use oauth2::TokenResponse as _;
                let token = self
                    .oauth2
                    .exchange_refresh_token(&oauth2::RefreshToken::new(refresh))
                    .request_async(&self.oauth2_http)
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
    let tokens = provider
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .ok()?;
    Some(tokens.refresh_token?.expose_secret().to_owned())
}

/// One round: `workers` chains of `per_worker` refreshes; throughput and every latency.
async fn round(
    sandbox: &SandboxHandle,
    clients: &Arc<Clients>,
    variant: Variant,
    workers: usize,
    per_worker: usize,
) -> Option<(f64, Vec<Duration>)> {
    let mut starts = Vec::new();
    for _ in 0..workers {
        starts.push(install(sandbox, clients, variant.slack()).await?);
    }
    let started = Instant::now();
    let handles: Vec<_> = starts
        .into_iter()
        .map(|mut refresh| {
            let clients = clients.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                for _ in 0..per_worker {
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
    Some((
        (workers * per_worker) as f64 / started.elapsed().as_secs_f64(),
        all,
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

pub(crate) async fn run(report: &mut Report) {
    let Ok(sandbox) = Sandbox::builder().start().await else {
        eprintln!("refresh benchmark skipped: the sandbox did not start");
        return;
    };
    let base = sandbox.base_url().to_owned();
    let built = (|| -> Result<Clients, String> {
        Ok(Clients {
            base: base.clone(),
            raw: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| e.to_string())?,
            slack: Arc::new(
                SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
                    .client_secret(DEFAULT_SLACK_CLIENT_SECRET)
                    .api_base_url(format!("{base}/api/"))
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
            oauth2_http: oauth2::reqwest::ClientBuilder::new()
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
        })
    })();
    let clients = match built {
        Ok(clients) => Arc::new(clients),
        Err(e) => {
            eprintln!("refresh benchmark skipped: {e}");
            return;
        }
    };
    let groups: [(&str, &[Variant]); 2] = [
        (
            "Slack `oauth.v2.access` refresh",
            &[
                Variant::SlackFloor,
                Variant::SlackOurs,
                Variant::SlackOauth2,
            ],
        ),
        (
            "Notion `POST /v1/oauth/token` refresh",
            &[Variant::NotionFloor, Variant::NotionOurs],
        ),
    ];
    let mut rows = String::new();
    for (title, variants) in groups {
        for (workers, per_worker) in [(1usize, 400usize), (64, 25)] {
            let mut throughput: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
            let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
            for _ in 0..ROUNDS {
                for (i, variant) in variants.iter().enumerate() {
                    let Some((rate, mut lat)) =
                        round(&sandbox, &clients, *variant, workers, per_worker).await
                    else {
                        return;
                    };
                    throughput[i].push(rate);
                    latencies[i].append(&mut lat);
                }
            }
            let floor = median(&mut throughput[0].clone());
            for (i, variant) in variants.iter().enumerate() {
                let rate = median(&mut throughput[i]);
                latencies[i].sort();
                rows.push_str(&format!(
                    "| {title} | {} | {workers} | {:.0}/s | {:.2} ms | {:.2} ms | {:.2}× |\n",
                    variant.name(),
                    rate,
                    percentile(&latencies[i], 0.5).as_secs_f64() * 1e3,
                    percentile(&latencies[i], 0.99).as_secs_f64() * 1e3,
                    rate / floor,
                ));
            }
        }
    }
    report.section(format!(
        "## Refresh grants against peers\n\nChained refresh grants (each worker spends its refresh token and uses the \
         rotated one) against oauth-sandbox in process on loopback; every client talks to the same endpoint with the \
         same request shape (Slack: form body with client credentials, except `oauth2`, which sends them as HTTP Basic; \
         Notion: JSON with HTTP Basic and `Notion-Version`). {ROUNDS} rounds, the clients interleaved; throughput is the \
         median of the rounds, latencies are over all requests. The last column is throughput relative to the raw \
         `reqwest` floor of the same provider and concurrency. The sandbox shares the machine's cores with the \
         clients, so absolute figures are lower bounds; the floor rows are also the sandbox's own capacity for \
         refresh grants on this machine (a refresh rotates both tokens and is logged and counted).\n\n\
         | endpoint | client | concurrency | throughput | p50 | p99 | vs floor |\n| --- | --- | --- | --- | --- | --- | --- |\n{rows}"
    ));
    sandbox.shutdown().await;
}
