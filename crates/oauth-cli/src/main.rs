//! `oauthctl`: get, keep, check and give up Notion and Slack OAuth tokens from the command line.
//!
//! `oauthctl demo` walks both providers through the whole lifecycle against an embedded sandbox and
//! needs nothing installed. See `oauthctl --help` for every command, and the exit codes below.
//!
//! | Exit code | Meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | any other failure |
//! | 2 | usage error |
//! | 3 | configuration missing or wrong (credentials, base URL, store) |
//! | 4 | re-authorization required (grant revoked, refresh refused): run `oauthctl login` again |
//! | 5 | rate limited: retry later |
//! | 6 | no such installation |
//! | 7 | authorization denied, or a bad callback |
//! | 8 | timed out (waiting for the browser, or for the provider) |

mod cli;
mod demo;
mod login;
mod output;
mod run;

use std::process::ExitCode;

use clap::Parser as _;
use oauth_facade::{Error, ErrorKind};

/// The exit code for an error, by its kind (see the table in the crate docs).
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Configuration => 3,
        ErrorKind::ReauthorizationRequired => 4,
        ErrorKind::RateLimited => 5,
        ErrorKind::NotFound => 6,
        ErrorKind::AuthorizationDenied | ErrorKind::InvalidCallback => 7,
        ErrorKind::Timeout => 8,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("oauthctl: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = cli.json;
    match runtime.block_on(run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            output::error(json, &error);
            ExitCode::from(exit_code(&error))
        }
    }
}
