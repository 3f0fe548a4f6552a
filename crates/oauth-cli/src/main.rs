//! `oauthctl`: get, keep, check and give up Notion and Slack OAuth tokens from the command line.
//!
//! `oauthctl demo` walks both providers through the whole lifecycle against an embedded sandbox and
//! needs nothing installed. `oauthctl login` remembers, per provider, what later commands need
//! (client id, base URL, store, key file; never a secret) in `$XDG_CONFIG_HOME/oauthctl/config.toml`.
//! See `oauthctl --help` for every command, and the exit codes below.
//!
//! | Exit code | Meaning |
//! | --- | --- |
//! | 0 | success |
//! | 1 | any other failure |
//! | 2 | usage error (including an ambiguous installation: name it with `--installation`) |
//! | 3 | configuration missing or wrong (credentials, base URL, store, key) |
//! | 4 | re-authorization required (grant revoked, refresh refused): run `oauthctl login` again |
//! | 5 | rate limited: retry later |
//! | 6 | no such installation |
//! | 7 | authorization denied, or a bad callback |
//! | 8 | timed out (waiting for the browser, or for the provider) |

mod cli;
mod demo;
mod installations;
mod login;
mod output;
mod run;
mod settings;
mod store;

use std::process::ExitCode;

use clap::Parser as _;
use oauth_facade::{Error, ErrorKind};

/// Why a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line does not say enough or says something impossible: exit 2.
    Usage(String),
    /// oauthctl's own configuration (flags, environment, settings file, store, key) is missing or
    /// wrong; the message says what to do: exit 3.
    Config(String),
    /// What the libraries reported.
    Lib(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure::Lib(error)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Usage(message) | Failure::Config(message) => f.write_str(message),
            Failure::Lib(error) => error.fmt(f),
        }
    }
}

impl Failure {
    /// The exit code (see the table in the crate docs).
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Config(_) => 3,
            Failure::Lib(error) => exit_code(error),
        }
    }

    /// The kind, as `--json` errors name it.
    pub(crate) fn kind(&self) -> String {
        match self {
            Failure::Usage(_) => "Usage".into(),
            Failure::Config(_) => "Configuration".into(),
            Failure::Lib(error) => format!("{:?}", error.kind()),
        }
    }
}

/// The exit code for a library error, by its kind.
pub(crate) fn exit_code(error: &Error) -> u8 {
    match error.kind() {
        ErrorKind::Configuration => 3,
        ErrorKind::ReauthorizationRequired => 4,
        ErrorKind::RateLimited => 5,
        ErrorKind::NotFound => 6,
        ErrorKind::AuthorizationDenied | ErrorKind::InvalidCallback => 7,
        ErrorKind::Timeout => 8,
        ErrorKind::TokenRejected => 9,
        _ => 1,
    }
}

/// Tracing on stderr: `RUST_LOG` if set (`target=level,…`), else by `-v` count (nothing without).
fn init_tracing(verbose: u8) -> Result<(), Failure> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = match std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty()) {
        Some(spec) => spec.parse::<Targets>().map_err(|e| {
            Failure::Usage(format!(
                "RUST_LOG={spec:?} is not a filter ({e}): write e.g. `debug` or `oauth_core=debug,info`"
            ))
        })?,
        None => Targets::new().with_default(match verbose {
            0 => LevelFilter::OFF,
            1 => LevelFilter::INFO,
            2 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        }),
    };
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .try_init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let json = cli.command.json();
    if let Err(failure) = init_tracing(cli.verbose) {
        output::failure(json, &failure);
        return ExitCode::from(failure.exit_code());
    }
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
    match runtime.block_on(run::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            output::failure(json, &failure);
            ExitCode::from(failure.exit_code())
        }
    }
}
