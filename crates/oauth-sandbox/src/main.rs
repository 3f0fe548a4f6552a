//! `oauth-sandbox`: runs the Notion/Slack OAuth emulator until SIGINT or SIGTERM.
//!
//! Usage: `oauth-sandbox [--addr 127.0.0.1:8787] [--limit NAME=VALUE]…` (default address
//! `127.0.0.1:8787`; the limits and their defaults are [`oauth_sandbox::Limits`]'s, e.g.
//! `--limit max_connections=64 --limit idle_timeout_secs=5`). Prints `listening on http://ADDR`
//! once ready, then the default apps' credentials.

use std::net::SocketAddr;
use std::process::ExitCode;

use oauth_sandbox::{Limits, Sandbox, SandboxHandle};

const USAGE: &str = "usage: oauth-sandbox [--addr 127.0.0.1:8787] [--limit NAME=VALUE]...
limits (defaults): request_log_capacity (10000), request_log_body_bytes (4096),
  max_request_body_bytes (1048576), max_connections (512), idle_timeout_secs (30),
  body_timeout_secs (10), state_retention_secs (60), event_log_capacity (1000),
  max_pending_events (256), event_timeout_secs (3), event_retry_delays_secs (0,60,300)
Slack events: POST /_sandbox/events/subscription {\"client_id\",\"request_url\",\"signing_secret\"}
  makes the sandbox POST signed tokens_revoked/app_uninstalled there; GET /_sandbox/events is the
  delivery log";

fn parse_args() -> Result<(SocketAddr, Limits), String> {
    let mut args = std::env::args().skip(1);
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8787));
    let mut limits = Limits::default();
    while let Some(a) = args.next() {
        let (flag, value) = match a.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), value.to_owned()),
            _ if a == "--help" || a == "-h" => return Err(USAGE.into()),
            _ if a == "--addr" || a == "--limit" => {
                let value = args.next().ok_or(format!("{a} needs a value\n{USAGE}"))?;
                (a, value)
            }
            _ => return Err(format!("unknown argument {a}\n{USAGE}")),
        };
        match flag.as_str() {
            "--addr" => {
                addr = value
                    .parse()
                    .map_err(|e| format!("bad --addr {value}: {e}"))?;
            }
            "--limit" => {
                let (name, value) = value
                    .split_once('=')
                    .ok_or(format!("--limit takes NAME=VALUE\n{USAGE}"))?;
                limits.set(name, value)?;
            }
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        }
    }
    Ok((addr, limits))
}

#[allow(clippy::print_stdout)]
fn announce(handle: &SandboxHandle) {
    use std::io::Write as _;
    println!("listening on {}", handle.base_url());
    for app in handle.control().apps() {
        println!(
            "app provider={:?} client_id={} client_secret={} redirect_uris={} rotation={} signing_secret={}",
            app.provider,
            app.client_id,
            app.client_secret.as_deref().unwrap_or("-"),
            app.redirect_uris.join(","),
            app.token_rotation_enabled,
            app.signing_secret.as_deref().unwrap_or("-"),
        );
    }
    let _ = std::io::stdout().flush();
}

async fn run(addr: SocketAddr, limits: Limits) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let handle = Sandbox::builder()
        .addr(addr)
        .limits(limits)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    announce(&handle);
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}

fn main() -> ExitCode {
    let (addr, limits) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(addr, limits)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauth-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
