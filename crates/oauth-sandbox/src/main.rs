//! `oauth-sandbox`: runs the Notion/Slack OAuth emulator until SIGINT or SIGTERM.
//!
//! Usage: `oauth-sandbox [--addr 127.0.0.1:8787]` (default `127.0.0.1:8787`). Prints
//! `listening on http://ADDR` once ready, then the default apps' credentials.

use std::net::SocketAddr;
use std::process::ExitCode;

use oauth_sandbox::{Sandbox, SandboxHandle};

fn parse_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = SocketAddr::from(([127, 0, 0, 1], 8787));
    while let Some(a) = args.next() {
        let value = if a == "--addr" {
            args.next().ok_or("--addr needs a value")?
        } else if let Some(v) = a.strip_prefix("--addr=") {
            v.to_owned()
        } else if a == "--help" || a == "-h" {
            return Err("usage: oauth-sandbox [--addr 127.0.0.1:8787]".into());
        } else {
            return Err(format!(
                "unknown argument {a}; usage: oauth-sandbox [--addr 127.0.0.1:8787]"
            ));
        };
        addr = value
            .parse()
            .map_err(|e| format!("bad --addr {value}: {e}"))?;
    }
    Ok(addr)
}

#[allow(clippy::print_stdout)]
fn announce(handle: &SandboxHandle) {
    use std::io::Write as _;
    println!("listening on {}", handle.base_url());
    for app in handle.control().apps() {
        println!(
            "app provider={:?} client_id={} client_secret={} redirect_uris={} rotation={}",
            app.provider,
            app.client_id,
            app.client_secret.as_deref().unwrap_or("-"),
            app.redirect_uris.join(","),
            app.token_rotation_enabled,
        );
    }
    let _ = std::io::stdout().flush();
}

async fn run(addr: SocketAddr) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let handle = Sandbox::builder()
        .addr(addr)
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
    let addr = match parse_addr() {
        Ok(a) => a,
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
    match rt.block_on(run(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oauth-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}
