//! The official `@slack/web-api` (Node.js) doing the same chained refresh grants against the same
//! sandbox, next to our Slack client in the same run. Skipped, with a message, where Node.js or npm
//! is missing or the package cannot be installed.

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use oauth_core::{
    AuthorizationCode, AuthorizationRequest, CodeExchange, RefreshToken, Scopes, TokenGrant,
    TokenProvider,
};
use oauth_sandbox::{DEFAULT_SLACK_CLIENT_ID, DEFAULT_SLACK_CLIENT_SECRET, Sandbox, SandboxHandle};
use oauth_slack::SlackClient;

use crate::report::Report;

const SCRIPT: &str = r#"
const { WebClient } = require('@slack/web-api');
const [base, clientId, clientSecret, tokensJson] = process.argv.slice(2);
const starts = JSON.parse(tokensJson);
const perWorker = Number(process.env.PER_WORKER);
const client = new WebClient(undefined, { slackApiUrl: base + '/api/', retryConfig: { retries: 0 }, logLevel: 'error' });
async function worker(refresh) {
  for (let i = 0; i < perWorker; i++) {
    const r = await client.oauth.v2.access({ client_id: clientId, client_secret: clientSecret, grant_type: 'refresh_token', refresh_token: refresh });
    refresh = r.refresh_token;
  }
}
(async () => {
  const t = process.hrtime.bigint();
  await Promise.all(starts.map(worker));
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(JSON.stringify({ rate: starts.length * perWorker / seconds }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"#;

async fn install(sandbox: &SandboxHandle, slack: &SlackClient) -> Option<String> {
    let request = AuthorizationRequest::new()
        .ok()?
        .scopes(Scopes::parse("chat:write"));
    let url = slack.authorization_url(&request).ok()?;
    let code = sandbox
        .control()
        .authorize(&format!("{}?{}", url.path(), url.query()?))
        .ok()?
        .code?;
    let grant = slack
        .exchange_code(CodeExchange::new(AuthorizationCode::new(code)))
        .await
        .ok()?;
    let tokens = &grant.primary()?.tokens;
    Some(tokens.refresh_token.as_ref()?.expose_secret().to_owned())
}

pub(crate) async fn run(report: &mut Report) {
    let skip = |why: &str| eprintln!("Node.js comparison skipped: {why}");
    if Command::new("node").arg("--version").output().is_err() {
        return skip("no node on this machine");
    }
    let Ok(dir) = tempfile::tempdir() else {
        return skip("no temporary directory");
    };
    let installed = Command::new("npm")
        .args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "@slack/web-api@8",
        ])
        .current_dir(dir.path())
        .output();
    if !installed.is_ok_and(|o| o.status.success()) {
        return skip("`npm install @slack/web-api@8` failed (no registry access?)");
    }
    let node_version = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if std::fs::write(dir.path().join("bench.js"), SCRIPT).is_err() {
        return skip("cannot write the script");
    }
    let Ok(sandbox) = Sandbox::builder().start().await else {
        return skip("the sandbox did not start");
    };
    let base = sandbox.base_url().to_owned();
    let Ok(slack) = SlackClient::builder(DEFAULT_SLACK_CLIENT_ID)
        .client_secret(DEFAULT_SLACK_CLIENT_SECRET)
        .base_url(format!("{base}/api/"))
        .authorize_base_url(format!("{base}/"))
        .build()
    else {
        return;
    };
    let slack = Arc::new(slack);
    let mut rows = String::new();
    for (workers, per_worker) in [(1usize, 400usize), (64, 25)] {
        let (mut ours, mut node) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            // Ours.
            let mut starts = Vec::new();
            for _ in 0..workers {
                let Some(t) = install(&sandbox, &slack).await else {
                    return skip("install failed");
                };
                starts.push(t);
            }
            let started = Instant::now();
            let handles: Vec<_> = starts
                .into_iter()
                .map(|mut refresh| {
                    let slack = slack.clone();
                    tokio::spawn(async move {
                        for _ in 0..per_worker {
                            let tokens = slack.refresh(&RefreshToken::new(refresh)).await.ok()?;
                            refresh = tokens.refresh_token?.expose_secret().to_owned();
                        }
                        Some(())
                    })
                })
                .collect();
            for handle in handles {
                if !matches!(handle.await, Ok(Some(()))) {
                    return skip("our client failed");
                }
            }
            ours.push((workers * per_worker) as f64 / started.elapsed().as_secs_f64());
            // @slack/web-api.
            let mut starts = Vec::new();
            for _ in 0..workers {
                let Some(t) = install(&sandbox, &slack).await else {
                    return skip("install failed");
                };
                starts.push(t);
            }
            let tokens = serde_json::Value::from(starts).to_string();
            let output = tokio::process::Command::new("node")
                .arg("bench.js")
                .args([
                    base.as_str(),
                    DEFAULT_SLACK_CLIENT_ID,
                    DEFAULT_SLACK_CLIENT_SECRET,
                    tokens.as_str(),
                ])
                .env("PER_WORKER", per_worker.to_string())
                .current_dir(dir.path())
                .output()
                .await;
            let Ok(output) = output else {
                return skip("node did not run");
            };
            let Some(rate) = serde_json::from_slice::<serde_json::Value>(&output.stdout)
                .ok()
                .and_then(|v| v["rate"].as_f64())
            else {
                return skip(&format!(
                    "the script failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            };
            node.push(rate);
        }
        let (ours, node) = (
            crate::report::median(&mut ours),
            crate::report::median(&mut node),
        );
        rows.push_str(&format!(
            "| {workers} | {ours:.0}/s | {node:.0}/s | {:.2}× |\n",
            ours / node
        ));
    }
    report.section(format!(
        "## Against the official Node.js SDK\n\nThe same chained Slack refresh grants against the same in-process sandbox: \
         our `SlackClient` (`TokenGrant::refresh`) and `@slack/web-api` 8 (`client.oauth.v2.access`, retries off) on \
         Node.js {node_version}, a separate process; 3 rounds, medians.\n\n\
         | concurrency | oauth-slack | @slack/web-api | ratio |\n| --- | --- | --- | --- |\n{rows}"
    ));
    sandbox.shutdown().await;
}
