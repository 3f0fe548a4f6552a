//! `cargo xtask fuzz --seconds N`: builds the libFuzzer targets of `crates/oauth-fuzz` with
//! coverage instrumentation (the flags cargo-fuzz passes, on the stable toolchain) and runs each for
//! N seconds, seeded with the decode corpus vendored in `fixtures/decode-corpus`. A crash fails the command and leaves the input
//! under `target/fuzz/artifacts/<target>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo_bin, project_root, run};

const TARGETS: &[&str] = &[
    "notion_responses",
    "slack_responses",
    "callback",
    "state_pkce",
    "id_token",
    "redaction",
    "slack_signature",
    "slack_events",
];

const RUSTFLAGS: &str = "-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"))
        .join("fuzz")
}

/// Seeds a corpus directory: each decode-corpus body (`fixtures/decode-corpus`) of `provider`, behind a status byte.
fn seed(corpus: &Path, provider: &str) {
    let vendored = project_root()
        .join("fixtures")
        .join("decode-corpus")
        .join(provider);
    let mut stack = vec![vendored];
    let mut n = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(body) = std::fs::read(&path) {
                for status_byte in [0u8, 3] {
                    let mut input = vec![status_byte];
                    input.extend_from_slice(&body);
                    let _ = std::fs::write(corpus.join(format!("seed-{n}-{status_byte}")), input);
                }
                n += 1;
            }
        }
    }
}

/// The host triple: building with an explicit `--target` keeps the instrumentation flags away from
/// build scripts and proc macros, as cargo-fuzz does.
fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "no host triple in rustc -vV".into())
}

pub(crate) fn fuzz(seconds: u64) -> Result<(), String> {
    let target = target_dir();
    let triple = host_triple()?;
    let manifest = project_root().join("crates/oauth-fuzz/Cargo.toml");
    run(Command::new(cargo_bin())
        .args(["build", "--release", "--bins", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .arg("--target")
        .arg(&triple)
        .env("RUSTFLAGS", RUSTFLAGS))?;
    let binaries = target.join(&triple).join("release");
    let mut report = Vec::new();
    for name in TARGETS {
        let corpus = target.join("corpus").join(name);
        let artifacts = target.join("artifacts").join(name);
        std::fs::create_dir_all(&corpus).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&artifacts).map_err(|e| e.to_string())?;
        match *name {
            "notion_responses" => seed(&corpus, "notion"),
            "slack_responses" => seed(&corpus, "slack"),
            _ => {}
        }
        let mut command = Command::new(binaries.join(name));
        // The response parsers get a dictionary of their provider's JSON keys and punctuation.
        let dictionary = match *name {
            "notion_responses" => Some("notion.dict"),
            "slack_responses" => Some("slack.dict"),
            _ => None,
        };
        if let Some(file) = dictionary {
            let path = project_root()
                .join("crates/oauth-fuzz/dictionaries")
                .join(file);
            command.arg(format!("-dict={}", path.display()));
        }
        let output = command
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .arg("-rss_limit_mb=2048")
            .arg("-timeout=10")
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .arg(&corpus)
            .output()
            .map_err(|e| format!("cannot run fuzz target {name}: {e}"))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stat = |key: &str| {
            stderr
                .lines()
                .find_map(|l| {
                    l.strip_prefix(key)
                        .map(|v| v.trim().trim_start_matches(':').trim().to_owned())
                })
                .unwrap_or_else(|| "?".into())
        };
        let executions = stat("stat::number_of_executed_units");
        if !output.status.success() {
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            return Err(format!(
                "fuzz target {name} failed after {executions} executions (input saved in {}):\n{}",
                artifacts.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        report.push(format!(
            "{name:<18} {executions:>12} executions in {seconds}s, corpus {} inputs, 0 crashes",
            std::fs::read_dir(&corpus).map_or(0, |d| d.count())
        ));
    }
    eprintln!(
        "fuzz: every target ran without a crash\n{}",
        report.join("\n")
    );
    Ok(())
}
