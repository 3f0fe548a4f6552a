//! Instructions per refresh grant, counted by valgrind (cachegrind, no cache simulation): unlike
//! wall-clock throughput on a shared machine, the count is the same from run to run within a
//! fraction of a percent, so small differences between clients show.
//!
//! Each client runs `oauth-bench --run-one <client> <n>` (one task, a fresh in-process sandbox)
//! twice, with two values of `n`; the difference of the two totals divided by the difference of
//! `n` is the cost of one refresh with set-up and tear-down cancelled out. The count covers the
//! whole process: the client, the sandbox answering it on loopback and the runtime, which is the
//! same work for every client.

use std::process::Command;

use crate::refresh::Variant;
use crate::report::Report;

const SHORT: usize = 500;
const LONG: usize = 2000;

/// Runs the bench binary under cachegrind and returns the instructions it executed.
fn count(variant: Variant, n: usize) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
        ])
        .arg(exe)
        .args(["--run-one", variant.key(), &n.to_string()])
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{} failed: {stderr}", variant.key()));
    }
    stderr
        .lines()
        .find_map(|line| {
            // `==1234== I   refs:      61,186,390`
            let (head, rest) = line.split_once("refs:")?;
            head.trim_end()
                .ends_with(" I")
                .then(|| rest.trim().replace(',', "").parse().ok())
                .flatten()
        })
        .ok_or_else(|| format!("no instruction count in valgrind's output: {stderr}"))
}

fn per_refresh(variant: Variant) -> Result<f64, String> {
    let short = count(variant, SHORT)?;
    let long = count(variant, LONG)?;
    Ok((long as f64 - short as f64) / (LONG - SHORT) as f64)
}

pub(crate) fn run(report: &mut Report) {
    let available = Command::new("valgrind")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("instruction counts skipped: valgrind is not installed");
        report.section(
            "## Instructions per refresh\n\nSkipped: valgrind is not installed on this machine.\n"
                .into(),
        );
        return;
    }
    let mut counts = Vec::new();
    for variant in Variant::ALL {
        eprintln!("instructions: {}", variant.key());
        match per_refresh(variant) {
            Ok(n) => counts.push((variant, n)),
            Err(e) => {
                eprintln!("instruction counts skipped: {e}");
                return;
            }
        }
    }
    let floor_of = |slack: bool| {
        counts
            .iter()
            .find(|(v, _)| {
                v.slack() == slack && matches!(v, Variant::SlackFloor | Variant::NotionFloor)
            })
            .map_or(f64::NAN, |(_, n)| *n)
    };
    let mut rows = String::new();
    for (variant, n) in &counts {
        rows.push_str(&format!(
            "| {} | {} | {:.1} k | {:.3}× |\n",
            if variant.slack() { "Slack" } else { "Notion" },
            variant.name(),
            n / 1e3,
            n / floor_of(variant.slack()),
        ));
    }
    report.section(format!(
        "## Instructions per refresh\n\nInstructions executed per chained refresh grant, counted by valgrind \
         (cachegrind): one client on one task against a fresh in-process sandbox, the difference between a run of \
         {LONG} and a run of {SHORT} refreshes divided by {}, so set-up cancels out. The count covers the whole \
         process (client, sandbox, runtime: the sandbox's share is the same for every client) and repeats within \
         about 0.5% from run to run, where the throughput above moves by ±10% on this machine. The last column is \
         relative to the raw floor of the same provider (lower is better).\n\n\
         | provider | client | instructions per refresh | vs floor |\n| --- | --- | --- | --- |\n{rows}",
        LONG - SHORT
    ));
}
