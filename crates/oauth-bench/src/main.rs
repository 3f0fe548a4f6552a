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
//! - instructions per refresh of the same clients, counted by valgrind (deterministic where the
//!   throughput is noisy; skipped where valgrind is missing);
//! - the official `@slack/web-api` on Node.js doing the same refreshes (skipped where Node.js is
//!   missing);
//! - API calls with managed tokens: `chat.postMessage` through `oauth-client`'s `ManagedAuth`
//!   against a bare `reqwest` call with a fixed token, concurrency 1 and 64, against oauth-sandbox;
//! - build cost: clean-build time and crate count of a program depending only on `oauth-slack`
//!   against one depending on `oauth2` with reqwest;
//! - callers while another replica holds the lease: 10,000 calls on a due token, SQLite and
//!   PostgreSQL, p50/p99 against the cached hot path;
//! - the install flow: install-route and callback-route requests/s against oauth-sandbox with the
//!   used states in memory, SQLite and PostgreSQL, against the same flow without the browser
//!   binding and against the previous server-side state store, and the binding's own cost in
//!   process;
//! - stampede: 10,000 concurrent `access_token` calls on an expiring token (one refresh grant at
//!   oauth-sandbox), against one plain refresh call and against 10,000 tasks woken by one
//!   `watch` channel with no refresh at all;
//! - refresh storm: 1,000 and 10,000 installations expiring together (`OAUTH_BENCH_STORM_SIZES`),
//!   SQLite and PostgreSQL, against as many plain refresh calls, and with the background refresher;
//! - store cost against the number of rows: `get` and `compare_and_swap` p50/p99 at 1,000 and
//!   1,000,000 rows (`OAUTH_BENCH_STORE_ROWS`), SQLite and PostgreSQL;
//! - the token manager at scale (`scale.rs`): first access per key at 1,000 to 1,000,000
//!   installations, the hot path on random warmed keys, heap per cached installation;
//! - Slack request verification: verified requests per second on one core against a bare
//!   HMAC-SHA256 of the same bytes.
#![allow(clippy::print_stdout)]

mod build_cost;
mod client;
mod hot_path;
mod install_flow;
mod instructions;
mod lease_held;
mod node;
mod refresh;
mod refresh_storm;
mod report;
mod scale;
mod scale_maps;
mod signature;
mod stampede;
mod store_scale;

/// Counts the heap in use, for the scale section.
#[global_allocator]
pub(crate) static ALLOCATOR: cap::Cap<std::alloc::System> =
    cap::Cap::new(std::alloc::System, usize::MAX);

use std::process::ExitCode;

/// The workspace root.
pub(crate) fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        )
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `--run-one <client> <n>`: one client's refreshes alone, run by the instruction counts.
    if args.get(1).map(String::as_str) == Some("--run-one") {
        let variant = refresh::Variant::ALL
            .into_iter()
            .find(|v| Some(v.key()) == args.get(2).map(String::as_str));
        let count = args.get(3).and_then(|n| n.parse().ok());
        let (Some(variant), Some(count)) = (variant, count) else {
            let keys: Vec<&str> = refresh::Variant::ALL.iter().map(|v| v.key()).collect();
            eprintln!("usage: oauth-bench --run-one <{}> <n>", keys.join("|"));
            return ExitCode::FAILURE;
        };
        return match refresh::run_one(variant, count).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    let out = args.get(1).cloned();
    let mut report = report::Report::new();
    // `OAUTH_BENCH_ONLY=refresh` (or hot_path, stampede) runs one section, e.g. under a profiler.
    let only = std::env::var("OAUTH_BENCH_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if wanted("refresh") {
        refresh::run(&mut report).await;
    }
    if wanted("instructions") {
        instructions::run(&mut report);
    }
    if wanted("node") {
        node::run(&mut report).await;
    }
    if wanted("hot_path") {
        hot_path::run(&mut report).await;
    }
    if wanted("lease_held") {
        lease_held::run(&mut report).await;
    }
    if wanted("install_flow") {
        install_flow::run(&mut report).await;
    }
    if wanted("stampede") {
        stampede::run(&mut report).await;
    }
    if wanted("refresh_storm") {
        refresh_storm::run(&mut report).await;
    }
    if wanted("store_scale") {
        store_scale::run(&mut report).await;
    }
    if wanted("scale") {
        scale::run(&mut report).await;
    }
    if wanted("client") {
        client::run(&mut report).await;
    }
    if wanted("signature") {
        signature::run(&mut report);
    }
    if wanted("build_cost") {
        build_cost::run(&mut report);
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
