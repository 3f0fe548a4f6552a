//! The markdown report, with the machine it was measured on.

use std::process::Command;

pub(crate) struct Report {
    sections: Vec<String>,
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0),
        );
    format!(
        "{cpu}, {cores} cores, {memory} RAM; {}; {}",
        command_line("rustc", &["--version"]),
        command_line("uname", &["-sr"])
    )
}

impl Report {
    pub(crate) fn new() -> Self {
        Self {
            sections: Vec::new(),
        }
    }

    pub(crate) fn section(&mut self, text: String) {
        self.sections.push(text);
    }

    pub(crate) fn render(&self) -> String {
        let mut out = String::from(
            "# Benchmarks\n\nMeasured by `cargo xtask bench` (release build); every figure is the median of \
             several rounds, and every comparison is measured in the same run as its baseline. \
             Re-run the command to reproduce on your machine.\n\n",
        );
        out.push_str(&format!("Machine: {}.\n\n", machine()));
        for section in &self.sections {
            out.push_str(section);
            out.push('\n');
        }
        out
    }
}

/// The median of `values` (sorted in place).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Formats an operations-per-second figure.
pub(crate) fn ops(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.1} M/s", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k/s", value / 1e3)
    } else {
        format!("{value:.0} /s")
    }
}
