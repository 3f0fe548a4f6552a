//! The MSRV check. Our machines have one toolchain, so we cannot compile with the declared
//! `rust-version`; instead we check that no dependency in Cargo.lock declares a newer one, which is
//! the usual way an MSRV breaks.

use std::path::Path;
use std::process::Command;

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

pub(crate) fn check(root: &Path) -> Result<(), String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("cannot parse cargo metadata: {e}"))?;
    let packages = metadata["packages"].as_array().ok_or("no packages")?;
    let mut ours = None;
    let mut newest: Option<((u64, u64, u64), String)> = None;
    for package in packages {
        let Some(version) = package["rust_version"].as_str().and_then(parse) else {
            continue;
        };
        let name = package["name"].as_str().unwrap_or("?");
        if package["source"].is_null() {
            ours = Some(version);
        } else if newest.as_ref().is_none_or(|(v, _)| version > *v) {
            newest = Some((
                version,
                format!("{name} {}", package["version"].as_str().unwrap_or("?")),
            ));
        }
    }
    let ours = ours.ok_or("the workspace declares no rust-version")?;
    match newest {
        Some((needed, who)) if needed > ours => Err(format!(
            "{who} needs Rust {}.{}.{}, newer than our rust-version {}.{}.{}: raise it in Cargo.toml",
            needed.0, needed.1, needed.2, ours.0, ours.1, ours.2
        )),
        Some((needed, who)) => {
            eprintln!(
                "msrv: rust-version {}.{} covers every dependency (the most demanding: {who}, {}.{})",
                ours.0, ours.1, needed.0, needed.1
            );
            Ok(())
        }
        None => Ok(()),
    }
}
