//! Project automation, in the style of rust-analyzer's xtask: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks, in order: rustfmt, MSRV, clippy, the whole test suite (tidy
//!   included), a fuzz smoke run, rustdoc. This is the test command README.md gives and `.ci/run` calls.
//! - `test`: the whole test suite only.
//! - `msrv`: checks that no dependency in Cargo.lock needs a newer Rust than our `rust-version`.
//! - `bench`: builds `oauth-bench` in release mode and runs it; it writes `docs/benchmarks.md`.
//! - `fuzz --seconds N`: runs every fuzz target of `crates/oauth-fuzz` for N seconds (`ci` runs a
//!   5-second smoke run of each).

mod fuzz;
mod msrv;
mod postgres;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => test(),
        Some("msrv") => msrv::check(&project_root()),
        Some("bench") => bench(),
        Some("fuzz") => match args.get(1).map(String::as_str) {
            Some("--seconds") => match args.get(2).and_then(|s| s.parse().ok()) {
                Some(seconds) => fuzz::fuzz(seconds),
                None => Err("usage: cargo xtask fuzz --seconds N".into()),
            },
            None => fuzz::fuzz(60),
            Some(other) => Err(format!(
                "unknown fuzz option `{other}`; usage: cargo xtask fuzz --seconds N"
            )),
        },
        Some("help" | "--help" | "-h") | None => {
            eprintln!("{}", USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <ci|test|msrv|bench|fuzz>
  ci     rustfmt, tidy, MSRV, clippy -D warnings (all and default features), all tests, rustdoc -D warnings
  test   all tests of the workspace, all features
  msrv   check the declared rust-version against Cargo.lock
  bench  run the benchmarks (release build) and write docs/benchmarks.md
  fuzz   run every fuzz target (--seconds N each, default 60)";

/// The workspace root (the parent of this crate's directory).
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn ci() -> Result<(), String> {
    step("rustfmt", cargo(&["fmt", "--all", "--check"]))?;
    step("msrv", msrv::check(&project_root()))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // Default features too: code (and imports) used only under a feature must not warn without it.
    step(
        "clippy (default features)",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step("tests", test())?;
    step("fuzz smoke run", fuzz::fuzz(5))?;
    step(
        "rustdoc",
        run(Command::new(cargo_bin())
            .args(["doc", "--workspace", "--no-deps", "--all-features"])
            .env("RUSTDOCFLAGS", "-D warnings")),
    )?;
    eprintln!("xtask ci: all steps passed");
    Ok(())
}

/// The whole test suite: every crate, every feature, doctests included (`--all-targets` would
/// skip doctests). xtask's own tests include the tidy checks. The PostgreSQL-backed tests use
/// `DATABASE_URL` if set, else a throwaway cluster started here; without PostgreSQL binaries they
/// do not run, and this says so.
fn test() -> Result<(), String> {
    let mut command = Command::new(cargo_bin());
    command.args(["test", "--workspace", "--all-features"]);
    let cluster;
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            cluster = postgres::Cluster::start()?;
            if let Some(cluster) = &cluster {
                command.env("OAUTH_TEST_POSTGRES_CA", &cluster.ca);
            }
            cluster.as_ref().map(|c| c.url.clone())
        }
    };
    match &url {
        Some(url) => {
            command
                .env("OAUTH_TEST_POSTGRES_URL", url)
                .env("OAUTH_REQUIRE_POSTGRES", "1");
        }
        None => eprintln!(
            "\n!!!!!!!! PostgreSQL binaries (initdb, pg_ctl) not found and DATABASE_URL unset: the PostgreSQL tests will NOT run !!!!!!!!\n"
        ),
    }
    let result = run(&mut command);
    if url.is_none() {
        eprintln!("!!!!!!!! reminder: the PostgreSQL tests did NOT run !!!!!!!!");
    }
    result
}

/// Builds the benchmark binary in release mode and runs it; it writes `docs/benchmarks.md`.
fn bench() -> Result<(), String> {
    cargo(&["build", "--release", "-p", "oauth-bench"])?;
    let root = project_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    run(Command::new(target.join("release").join("oauth-bench"))
        .arg(root.join("docs").join("benchmarks.md")))
}

fn step(name: &str, result: Result<(), String>) -> Result<(), String> {
    result.map_err(|e| format!("step `{name}` failed: {e}"))
}

pub(crate) fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn cargo(args: &[&str]) -> Result<(), String> {
    run(Command::new(cargo_bin()).args(args))
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    command.current_dir(project_root());
    let shown = format!("{command:?}");
    eprintln!("$ {shown}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    eprintln!("  ({:.1}s)", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}
