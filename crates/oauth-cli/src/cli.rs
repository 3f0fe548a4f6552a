//! The command line, as clap sees it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use oauth_facade::ProviderKind;

const EXAMPLES: &str = "\
Examples:
  oauthctl demo                                   # the whole lifecycle, offline, both providers
  oauthctl login slack --scopes chat:write,commands
  curl -H \"Authorization: Bearer $(oauthctl token slack)\" https://slack.com/api/auth.test
  oauthctl list --json
  oauthctl sandbox --addr 127.0.0.1:8787 &        # then point any command at it:
  oauthctl login notion --base-url http://127.0.0.1:8787 --no-browser

Credentials come from flags or the environment (NOTION_CLIENT_ID, NOTION_CLIENT_SECRET,
SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, *_REDIRECT_URI, *_BASE_URL); secrets are never printed.
`login` remembers the client id, base URL, store and key source per provider in
$XDG_CONFIG_HOME/oauthctl/config.toml (OAUTHCTL_CONFIG names another file); later commands use
them when no flag or variable says otherwise. Secrets are never written there.
The token store is encrypted with OAUTHCTL_STORE_KEY ([ID:]BASE64 of 32 bytes; make one with
`oauthctl store-key new`), the key in --store-key-file, or the OS keyring's (--store-key-keyring,
after `oauthctl store-key new --keyring`); without a key, tokens are stored in clear.
-v/--verbose or RUST_LOG (e.g. RUST_LOG=oauth_core=debug) print the libraries' tracing on stderr.
Exit codes: 0 ok, 1 failure, 2 usage, 3 configuration, 4 re-authorization required,
5 rate limited, 6 no such installation, 7 authorization denied, 8 timed out,
9 token refused by the provider (run the command again: the token is refreshed).";

/// Get, keep, check and give up Notion and Slack OAuth tokens.
#[derive(Debug, Parser)]
#[command(name = "oauthctl", version, about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Print what the libraries do on stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when
    /// set, chooses instead).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The providers, as the command line names them (so that completions offer them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Provider {
    /// Notion public integrations.
    Notion,
    /// Slack apps.
    Slack,
}

impl Provider {
    pub(crate) fn kind(self) -> ProviderKind {
        match self {
            Provider::Notion => ProviderKind::Notion,
            Provider::Slack => ProviderKind::Slack,
        }
    }
}

/// `--json`.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct Output {
    /// Print JSON instead of text (errors too, on stderr).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where installations are kept.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct StoreArgs {
    /// Where installations are kept: `sqlite:PATH` (missing directories are created, owner-only)
    /// or `postgres://…` (default: the store `login` remembered, else SQLite in the user's data
    /// directory).
    #[arg(long, env = "OAUTHCTL_STORE")]
    pub(crate) store: Option<String>,
    /// A file (mode 600) holding the store's encryption key, `[ID:]BASE64`; OAUTHCTL_STORE_KEY
    /// gives the key itself.
    #[arg(long, env = "OAUTHCTL_STORE_KEY_FILE")]
    pub(crate) store_key_file: Option<PathBuf>,
    /// Read the store's encryption key from the OS keyring (macOS Keychain, Windows Credential
    /// Manager, the Secret Service on Linux), where `oauthctl store-key new --keyring` put it.
    #[arg(long)]
    pub(crate) store_key_keyring: bool,
}

/// How to reach and authenticate to a provider (flags override the environment, which overrides
/// what `login` remembered).
#[derive(Debug, Args, Clone)]
pub(crate) struct ProviderArgs {
    /// The provider.
    pub(crate) provider: Provider,
    /// The OAuth client id (default: $NOTION_CLIENT_ID / $SLACK_CLIENT_ID).
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// The OAuth client secret (default: $NOTION_CLIENT_SECRET / $SLACK_CLIENT_SECRET; prefer the
    /// environment, flags show up in process lists).
    #[arg(long, hide_env_values = true)]
    pub(crate) client_secret: Option<String>,
    /// The provider's URL, e.g. an oauth-sandbox (`http://127.0.0.1:8787`) or a proxy (default:
    /// $NOTION_BASE_URL / $SLACK_BASE_URL, else `https://api.notion.com`, `https://slack.com`).
    /// For Slack, the root (`https://slack.com`) and the API base (`https://slack.com/api/`)
    /// mean the same, in the flag and in the variable.
    #[arg(long)]
    pub(crate) base_url: Option<String>,
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

/// Which installation.
#[derive(Debug, Args, Clone)]
pub(crate) struct InstallationArgs {
    #[command(flatten)]
    pub(crate) provider: ProviderArgs,
    /// The installation (see `oauthctl list`): its key (`T0123`, `E0123/T0123`, `E0123/*` for an
    /// org-wide install, a Notion bot id), optionally with the token set (`T0123#user:U0456`);
    /// may be omitted when there is only one.
    #[arg(long, conflicts_with_all = ["team", "enterprise"])]
    pub(crate) installation: Option<String>,
    /// Slack: the workspace (team id) whose installation to use; an org-wide install of its
    /// `--enterprise` serves it too.
    #[arg(long)]
    pub(crate) team: Option<String>,
    /// Slack: the Enterprise Grid org (with `--team`, that workspace of the org; alone, the
    /// org-wide install).
    #[arg(long)]
    pub(crate) enterprise: Option<String>,
    /// Slack: the user whose token to use (one who authorized user scopes); default: the bot's.
    #[arg(long)]
    pub(crate) user: Option<String>,
    #[command(flatten)]
    pub(crate) output: Output,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Walk both providers through the whole lifecycle against an embedded sandbox (offline).
    Demo {
        #[command(flatten)]
        output: Output,
    },
    /// Authorize in the browser, save the installation, and remember the settings.
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
        #[command(flatten)]
        output: Output,
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
    /// List the saved installations (of every store `login` remembered, without --store).
    List {
        /// Only this provider's.
        provider: Option<Provider>,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        output: Output,
    },
    /// Make an encryption key for the token store.
    StoreKey {
        #[command(subcommand)]
        command: StoreKeyCommand,
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

impl Command {
    /// Whether the command was asked for JSON.
    pub(crate) fn json(&self) -> bool {
        match self {
            Command::Demo { output }
            | Command::Login { output, .. }
            | Command::List { output, .. } => output.json,
            Command::Token { installation, .. }
            | Command::Introspect { installation }
            | Command::Test { installation }
            | Command::Revoke { installation }
            | Command::Logout { installation } => installation.output.json,
            Command::StoreKey { .. } | Command::Sandbox { .. } | Command::Completions { .. } => {
                false
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreKeyCommand {
    /// Make a new random key (`k1:BASE64`): printed for OAUTHCTL_STORE_KEY, or written to a key
    /// file, or kept in the OS keyring.
    New {
        /// The key's id (stored beside each row it encrypts, so that keys can rotate).
        #[arg(long, default_value = "k1")]
        id: String,
        /// Write it to this file (created with mode 600; an existing file is not replaced)
        /// instead of printing it.
        #[arg(long, conflicts_with = "keyring")]
        file: Option<PathBuf>,
        /// Keep it in the OS keyring (service `oauthctl`, account `store-key`; an existing key
        /// there is not replaced) instead of printing it; then pass --store-key-keyring.
        #[arg(long)]
        keyring: bool,
    },
}

/// The default store: SQLite in the user's data directory.
pub(crate) fn default_store() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("oauthctl").join("tokens.sqlite3"))
}
