//! `cargo xtask bench`: the workspace's benchmarks, each measured side by side with its baseline in
//! the same run, several rounds, medians. Prints a markdown report and writes it to the path given
//! as the first argument (xtask passes `docs/benchmarks.md`).
//!
//! Sections:
//! - token manager hot path: `TokenManager::access_token` on a valid cached token, against a bare
//!   `ArcSwap` load and a `tokio::sync::RwLock` read of the same token, single task and one task
//!   per core.
//! - refresh grants: our Slack and Notion clients against a raw `reqwest` + `serde_json` request of
//!   the same shape (the floor) and the `oauth2` crate's `exchange_refresh_token`, at concurrency 1
//!   and 64, throughput and p50/p99 latency, against oauth-sandbox;
//! - stampede: 10,000 concurrent `access_token` calls on an expiring token (one refresh grant at
//!   oauth-sandbox), against one plain refresh call.
#![allow(clippy::print_stdout)]

mod hot_path;
mod refresh;
mod report;
mod stampede;

use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let out = std::env::args().nth(1);
    let mut report = report::Report::new();
    // `OAUTH_BENCH_ONLY=refresh` (or hot_path, stampede) runs one section, e.g. under a profiler.
    let only = std::env::var("OAUTH_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wanted("refresh") {
        refresh::run(&mut report).await;
    }
    if wanted("hot_path") {
        hot_path::run(&mut report).await;
    }
    if wanted("stampede") {
        stampede::run(&mut report).await;
    }
    let text = report.render();
    println!("{text}");
    if let Some(path) = out {
        if let Err(e) = std::fs::write(&path, &text) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {path}");
    }
    ExitCode::SUCCESS
}
