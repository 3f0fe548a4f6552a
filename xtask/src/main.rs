//! Project automation, in the style of rust-analyzer's xtask: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks, in order: rustfmt, MSRV, clippy, the whole test suite (tidy
//!   included), the TLS shapes, `cargo package` of the published crates, a fuzz smoke run,
//!   rustdoc. This is the test command README.md gives and `.ci/run` calls.
//! - `test`: the whole test suite only.
//! - `package`: `cargo package` for every published crate (part of `ci`).
//! - `msrv`: checks that no dependency in Cargo.lock needs a newer Rust than our `rust-version`.
//! - `tls-shapes`: builds and runs an application in each shape a user's own reqwest may have
//!   beside the facade, each making HTTPS requests to a local TLS server (`tls_shapes.rs`).
//! - `bench`: builds `oauth-bench` in release mode and runs it; it writes `docs/benchmarks.md`.
//! - `fuzz --seconds N`: runs every fuzz target of `crates/oauth-fuzz` for N seconds (`ci` runs a
//!   5-second smoke run of each).
//! - `soak [--kills N]`: the long variant of the multi-process kill test (`oauth-itest`'s
//!   `tests/kills.rs`, N kills per run, 150 by default, 300 in all) on a throwaway PostgreSQL
//!   cluster, printing its figures.

mod fuzz;
mod msrv;
mod postgres;
#[cfg(test)]
mod tidy;
mod tls_shapes;

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
        Some("soak") => match args.get(1).map(String::as_str) {
            None => soak(150),
            Some("--kills") => match args.get(2).and_then(|s| s.parse().ok()) {
                Some(kills) => soak(kills),
                None => Err("usage: cargo xtask soak [--kills N]".into()),
            },
            Some(other) => Err(format!(
                "unknown soak option `{other}`; usage: cargo xtask soak [--kills N]"
            )),
        },
        Some("tls-shapes") => tls_shapes::check(),
        Some("package") => package(),
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

const USAGE: &str = "usage: cargo xtask <ci|test|msrv|tls-shapes|package|bench|fuzz|soak>
  ci     rustfmt, tidy, MSRV, clippy -D warnings (all and default features), all tests, TLS shapes, packaging, rustdoc
  test   all tests of the workspace, all features
  msrv   check the declared rust-version against Cargo.lock
  tls-shapes  build and run an application in each shape of a user's own reqwest (HTTPS)
  package  cargo package every published crate (files and versioned dependencies)
  bench  run the benchmarks (release build) and write docs/benchmarks.md
  fuzz   run every fuzz target (--seconds N each, default 60)
  soak   the long multi-process kill test on PostgreSQL (--kills N per run, default 150)";

/// The crates published to crates.io (tidy checks that every other one says `publish = false`).
pub(crate) const PUBLISHED: [&str; 9] = [
    "oauth-core",
    "oauth-client",
    "oauth-sandbox",
    "oauth-manager",
    "oauth-notion",
    "oauth-slack",
    "oauth-store",
    "oauth-facade",
    "oauth-cli",
];

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
    step("tls shapes", tls_shapes::check())?;
    step("package", package())?;
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
    with_postgres(&mut command)
}

/// The long kill test: replicas SIGKILLed `kills` times per run (with and without a grace
/// period), on PostgreSQL; prints where the kills landed and how many locked an installation out.
fn soak(kills: u64) -> Result<(), String> {
    let mut command = Command::new(cargo_bin());
    command
        .args([
            "test",
            "-p",
            "oauth-itest",
            "--test",
            "kills",
            "--",
            "--nocapture",
        ])
        .env("OAUTH_KILLS", kills.to_string());
    with_postgres(&mut command)
}

/// Runs `command` with `DATABASE_URL`'s PostgreSQL, or a throwaway cluster started here (the
/// PostgreSQL-backed tests then must run: `OAUTH_REQUIRE_POSTGRES`); without PostgreSQL binaries
/// those tests do not run, and this says so loudly.
fn with_postgres(command: &mut Command) -> Result<(), String> {
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
    let result = run(command);
    if url.is_none() {
        eprintln!("!!!!!!!! reminder: the PostgreSQL tests did NOT run !!!!!!!!");
    }
    result
}

/// `cargo package` for every published crate, together (cargo puts the packages in a local
/// overlay of the registry, so that each is built against the others as packaged): a file a crate
/// needs that its package lacks, or a dependency without a version, fails here. The working tree
/// may be dirty: what is checked is what would be packaged.
fn package() -> Result<(), String> {
    // A target directory of its own, where every `oauth-*` build is one of packaged sources.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
        .join("package-verify");
    forget_packaged_sources(&target)?;
    let mut command = Command::new(cargo_bin());
    command
        .args(["package", "--allow-dirty", "--quiet"])
        .env("CARGO_TARGET_DIR", &target);
    for name in PUBLISHED {
        command.args(["-p", name]);
    }
    run(&mut command)
}

/// Whether `name` (a directory's) is `<one of our published crates>-<version or hash>`.
fn is_ours(name: &str) -> bool {
    PUBLISHED.iter().any(|crate_name| {
        name.strip_prefix(crate_name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphanumeric()))
    })
}

/// Removes the directories in `dir` that [`is_ours`].
fn remove_ours(dir: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if is_ours(&entry.file_name().to_string_lossy()) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| format!("cannot remove the stale {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Cargo takes a registry package's sources and builds as never changing: it reuses the
/// overlay's packages unpacked under `$CARGO_HOME/registry/src/-<hash>/` (a registry without a
/// host) and their builds as it finds them, so with our version unchanged between runs a second
/// run would build the first run's sources. Those unpacked copies of our crates and their build
/// fingerprints in `target` are removed first (caches; the crates.io ones are left).
fn forget_packaged_sources(target: &Path) -> Result<(), String> {
    remove_ours(&target.join("debug").join(".fingerprint"))?;
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(sources) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&sources) else {
        return Ok(());
    };
    for registry in registries.flatten() {
        if registry.file_name().to_string_lossy().starts_with('-') {
            remove_ours(&registry.path())?;
        }
    }
    Ok(())
}

/// Builds the benchmark binary in release mode and runs it (with PostgreSQL where the machine has
/// it); it writes `docs/benchmarks.md`.
fn bench() -> Result<(), String> {
    cargo(&["build", "--release", "-p", "oauth-bench"])?;
    let root = project_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    // The PostgreSQL rows run on `DATABASE_URL` or a throwaway cluster, as the tests do.
    with_postgres(
        Command::new(target.join("release").join("oauth-bench"))
            .arg(root.join("docs").join("benchmarks.md")),
    )
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
