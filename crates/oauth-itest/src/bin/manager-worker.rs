//! One "replica": a TokenManager over a shared store and the Slack client pointed at a sandbox,
//! with `TASKS` tasks asking for the installation's token until `SECONDS` have passed. Prints
//! `ready` when it starts asking, then one JSON line: calls, errors, and the distinct tokens seen
//! (as fingerprints). Used by `tests/replicas.rs`.
//!
//! Arguments: `STORE SANDBOX_BASE KEY TASKS SECONDS MARGIN_SECS LEASE_MS` where STORE is
//! `sqlite:PATH` or `postgres:URL#SCHEMA`.
#![allow(clippy::print_stdout)]

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use oauth_core::TokenKey;
use oauth_manager::{ManagerConfig, TokenManager};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store_spec, sandbox, key, tasks, seconds, margin, lease] = args.as_slice() else {
        eprintln!(
            "usage: manager-worker STORE SANDBOX_BASE KEY TASKS SECONDS MARGIN_SECS LEASE_MS"
        );
        return ExitCode::FAILURE;
    };
    let (Ok(tasks), Ok(seconds), Ok(margin), Ok(lease)) = (
        tasks.parse::<usize>(),
        seconds.parse::<f64>(),
        margin.parse::<u64>(),
        lease.parse::<u64>(),
    ) else {
        eprintln!("manager-worker: bad numbers");
        return ExitCode::FAILURE;
    };
    let store = match oauth_itest::open_store(store_spec).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!("manager-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let slack = match oauth_itest::slack_client(sandbox) {
        Ok(slack) => slack,
        Err(e) => {
            eprintln!("manager-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let manager = TokenManager::builder(slack, store)
        .config(
            ManagerConfig::default()
                .refresh_margin(Duration::from_secs(margin))
                .lease_ttl(Duration::from_millis(lease))
                .poll_interval(Duration::from_millis(10)),
        )
        .build();
    let manager = match manager {
        Ok(manager) => manager,
        Err(e) => {
            eprintln!("manager-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let key: TokenKey = match key.parse() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("manager-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ready");
    let _ = std::io::stdout().flush();
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (manager, key) = (manager.clone(), key.clone());
        handles.push(tokio::spawn(async move {
            let (mut calls, mut errors, mut seen) = (0u64, Vec::new(), BTreeSet::new());
            while tokio::time::Instant::now() < deadline {
                calls += 1;
                match manager.access_token(&key).await {
                    Ok(token) => {
                        seen.insert(token.fingerprint());
                    }
                    Err(e) => errors.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (calls, errors, seen)
        }));
    }
    let (mut calls, mut errors, mut seen) = (0u64, Vec::new(), BTreeSet::new());
    for handle in handles {
        match handle.await {
            Ok((c, e, s)) => {
                calls += c;
                errors.extend(e);
                seen.extend(s);
            }
            Err(e) => errors.push(format!("task failed: {e}")),
        }
    }
    println!(
        "{}",
        serde_json::json!({"calls": calls, "errors": errors, "tokens": seen})
    );
    ExitCode::SUCCESS
}
