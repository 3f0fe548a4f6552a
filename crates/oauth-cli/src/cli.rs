//! The command line, as clap sees it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use oauth_facade::ProviderKind;

const EXAMPLES: &str = "\
Examples:
  oauthctl demo                                   # the whole lifecycle, offline, both providers
  oauthctl login slack --scopes chat:write,commands
  curl -H \"Authorization: Bearer $(oauthctl token slack)\" https://slack.com/api/auth.test
  oauthctl list --json
  oauthctl sandbox --addr 127.0.0.1:8787 &        # then point any command at it:
  oauthctl login notion --base-url http://127.0.0.1:8787 --no-browser

Credentials come from the environment (NOTION_CLIENT_ID, NOTION_CLIENT_SECRET, SLACK_CLIENT_ID,
SLACK_CLIENT_SECRET, and *_REDIRECT_URI) or from flags; they are never printed.
Exit codes: 0 ok, 1 failure, 2 usage, 3 configuration, 4 re-authorization required,
5 rate limited, 6 no such installation, 7 authorization denied, 8 timed out.";

/// Get, keep, check and give up Notion and Slack OAuth tokens.
#[derive(Debug, Parser)]
#[command(name = "oauthctl", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Where installations are kept: `sqlite:PATH` or `postgres://…` (default: SQLite in the
    /// user's data directory).
    #[arg(long, global = true, env = "OAUTHCTL_STORE")]
    pub(crate) store: Option<String>,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// How to reach and authenticate to a provider (flags override the environment).
#[derive(Debug, Args, Clone)]
pub(crate) struct ProviderArgs {
    /// The provider.
    #[arg(value_parser = parse_kind)]
    pub(crate) provider: ProviderKind,
    /// The OAuth client id (default: $NOTION_CLIENT_ID / $SLACK_CLIENT_ID).
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// The OAuth client secret (default: $NOTION_CLIENT_SECRET / $SLACK_CLIENT_SECRET; prefer the
    /// environment, flags show up in process lists).
    #[arg(long, hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// The provider's root URL, e.g. an oauth-sandbox (`http://127.0.0.1:8787`) or a proxy
    /// (default: `https://api.notion.com`, `https://slack.com`).
    #[arg(long)]
    pub(crate) base_url: Option<String>,
}

/// Which installation.
#[derive(Debug, Args, Clone)]
pub(crate) struct InstallationArgs {
    #[command(flatten)]
    pub(crate) provider: ProviderArgs,
    /// The installation key (see `oauthctl list`); may be omitted when there is only one.
    #[arg(long)]
    pub(crate) installation: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Walk both providers through the whole lifecycle against an embedded sandbox (offline).
    Demo,
    /// Authorize in the browser and save the installation.
    Login {
        #[command(flatten)]
        provider: ProviderArgs,
        /// Scopes (Slack bot scopes, comma-separated; Notion has none).
        #[arg(long)]
        scopes: Option<String>,
        /// Slack user scopes, comma-separated.
        #[arg(long)]
        user_scopes: Option<String>,
        /// The redirect URI registered with the app; its host and port are listened on
        /// (default: `http://127.0.0.1:PORT/callback/PROVIDER` on a free port).
        #[arg(long)]
        redirect_uri: Option<String>,
        /// Use PKCE (automatic for a Slack app without a client secret).
        #[arg(long)]
        pkce: bool,
        /// Print the URL instead of opening a browser.
        #[arg(long)]
        no_browser: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Print a valid access token, refreshing (and rotating) it first if needed.
    Token {
        #[command(flatten)]
        installation: InstallationArgs,
        /// Refresh when the token expires within this many seconds.
        #[arg(long, default_value_t = 300)]
        refresh_margin: u64,
    },
    /// Ask the provider whether the installation's token is active.
    Introspect {
        #[command(flatten)]
        installation: InstallationArgs,
    },
    /// Call Slack's `auth.test` (Notion: introspect) with the installation's token.
    Test {
        #[command(flatten)]
        installation: InstallationArgs,
    },
    /// Revoke the installation's token at the provider and mark it as needing re-authorization.
    Revoke {
        #[command(flatten)]
        installation: InstallationArgs,
    },
    /// Revoke the token and delete the installation.
    Logout {
        #[command(flatten)]
        installation: InstallationArgs,
    },
    /// List the saved installations.
    List {
        /// Only this provider's.
        #[arg(value_parser = parse_kind)]
        provider: Option<ProviderKind>,
    },
    /// Run the offline emulator of Notion's and Slack's OAuth endpoints.
    Sandbox {
        /// The loopback address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        addr: SocketAddr,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn parse_kind(value: &str) -> Result<ProviderKind, String> {
    value
        .parse()
        .map_err(|e: oauth_facade::Error| e.to_string())
}

/// The default store: SQLite in the user's data directory.
pub(crate) fn default_store() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("oauthctl").join("tokens.sqlite3"))
}
