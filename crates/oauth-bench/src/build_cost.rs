//! The cost of depending on one provider: a clean build (debug, like `cargo build`) and the crate
//! count of a program that depends only on `oauth-slack`, against one that depends on the `oauth2`
//! crate with its reqwest client, measured in the same run, one after the other, each in an empty
//! target directory.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::report::Report;

struct Program {
    name: &'static str,
    dependency: String,
    code: &'static str,
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Writes the program, builds it from scratch, and returns (seconds, crates compiled).
fn measure(dir: &Path, program: &Program) -> Result<(f64, usize), String> {
    let root = dir.join(program.name);
    std::fs::create_dir_all(root.join("src")).map_err(|e| e.to_string())?;
    std::fs::write(
        root.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\n{}\ntokio = {{ version = \"1\", features = [\"rt\", \"macros\"] }}\n",
            program.name, program.dependency
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(root.join("src/main.rs"), program.code).map_err(|e| e.to_string())?;
    // Resolve first (not timed), then the timed clean build.
    let status = Command::new(cargo())
        .arg("generate-lockfile")
        .current_dir(&root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("{}: cannot resolve dependencies", program.name));
    }
    let started = Instant::now();
    let output = Command::new(cargo())
        .args(["build", "--quiet"])
        .env("CARGO_TARGET_DIR", root.join("target"))
        .current_dir(&root)
        .output()
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() {
        return Err(format!(
            "{}: build failed: {}",
            program.name,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let tree = Command::new(cargo())
        .args(["tree", "--prefix", "none", "-e", "normal,build"])
        .current_dir(&root)
        .output()
        .map_err(|e| e.to_string())?;
    let mut crates: Vec<String> = String::from_utf8_lossy(&tree.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some(format!("{} {}", parts.next()?, parts.next()?))
        })
        .collect();
    crates.sort();
    crates.dedup();
    Ok((seconds, crates.len()))
}

pub(crate) fn run(report: &mut Report) {
    let slack = crate::project_root().join("crates").join("oauth-slack");
    let programs = [
        Program {
            name: "uses-oauth-slack",
            dependency: format!(
                "oauth-slack = {{ path = {:?} }}\noauth-core = {{ path = {:?} }}",
                slack,
                slack.with_file_name("oauth-core")
            ),
            code: "use oauth_core::TokenGrant as _;\n#[tokio::main(flavor = \"current_thread\")]\nasync fn main() {\n    let client = oauth_slack::SlackClient::builder(\"1.2\").client_secret(\"s\").build().unwrap();\n    let _ = client.refresh(&oauth_core::RefreshToken::new(\"xoxe-1-x\")).await;\n}\n",
        },
        Program {
            name: "uses-oauth-slack-without-openid",
            dependency: format!(
                "oauth-slack = {{ path = {:?}, default-features = false, features = [\"reqwest\"] }}\noauth-core = {{ path = {:?} }}",
                slack,
                slack.with_file_name("oauth-core")
            ),
            code: "use oauth_core::TokenGrant as _;\n#[tokio::main(flavor = \"current_thread\")]\nasync fn main() {\n    let client = oauth_slack::SlackClient::builder(\"1.2\").client_secret(\"s\").build().unwrap();\n    let _ = client.refresh(&oauth_core::RefreshToken::new(\"xoxe-1-x\")).await;\n}\n",
        },
        Program {
            name: "uses-oauth2",
            dependency: "oauth2 = \"5\"".into(),
            code: "#[tokio::main(flavor = \"current_thread\")]\nasync fn main() {\n    let client = oauth2::basic::BasicClient::new(oauth2::ClientId::new(\"1.2\".into()))\n        .set_client_secret(oauth2::ClientSecret::new(\"s\".into()))\n        .set_token_uri(oauth2::TokenUrl::new(\"https://slack.com/api/oauth.v2.access\".into()).unwrap());\n    let http = oauth2::reqwest::Client::new();\n    let _ = client.exchange_refresh_token(&oauth2::RefreshToken::new(\"xoxe-1-x\".into())).request_async(&http).await;\n}\n",
        },
    ];
    let Ok(dir) = tempfile::tempdir() else { return };
    let mut rows = String::new();
    let mut baseline = None;
    for program in programs.iter().rev() {
        match measure(dir.path(), program) {
            Ok((seconds, crates)) => {
                let (base_s, base_c) = *baseline.get_or_insert((seconds, crates));
                rows.push_str(&format!(
                    "| `{}` | {seconds:.0} s ({:.2}×) | {crates} ({:.2}×) |\n",
                    program.name,
                    seconds / base_s,
                    crates as f64 / base_c as f64
                ));
            }
            Err(e) => {
                eprintln!("build-cost benchmark skipped: {e}");
                return;
            }
        }
    }
    report.section(format!(
        "## Cost of depending on one provider\n\nA minimal program that refreshes a Slack token, built from scratch \
         (`cargo build`, debug, empty target directory, dependencies already downloaded) with `oauth-slack` (default \
         features; and without its `openid` feature, which verifies Sign in with Slack `id_token`s) or with `oauth2` 5 \
         and its reqwest client (rustls); crates counted with `cargo tree -e normal,build`. Ratios are to \
         the `oauth2` program, built first in the same run.\n\n| program | clean build | crates |\n| --- | --- | --- |\n{rows}"
    ));
}
