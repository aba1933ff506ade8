//! Every argument of the `mac` command, as clap types: the one place the command line is
//! defined. `docs/CLI.md` is rendered from these definitions (`cli_doc`), and a test keeps the
//! two equal.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mac_storage::Provider;

/// One pool of Claude Pro/Max and ChatGPT Plus/Pro accounts for your coding agents.
#[derive(Debug, Parser)]
#[command(
    name = "mac",
    version,
    about = "One pool of Claude Pro/Max and ChatGPT Plus/Pro accounts for your coding agents.",
    after_help = "Exit status: 0 success, 1 failure, 2 usage error (a bad argument or account id)."
)]
pub struct Cli {
    /// Options every command takes, before or after the command name.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// The data directory (else `$MAC_HOME`, else the platform config directory + `mac`).
    #[arg(long, global = true, value_name = "DIR", alias = "data-dir")]
    pub home: Option<PathBuf>,
    /// More detail on standard error (`-vv` for debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only results and errors: no progress or notes on standard error.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to colour output (`auto`: on a terminal, unless `NO_COLOR` is set).
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// A provider, as typed on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// Claude Pro/Max (Anthropic OAuth).
    Anthropic,
    /// ChatGPT Plus/Pro (Codex OAuth).
    Codex,
}

impl From<ProviderArg> for Provider {
    fn from(arg: ProviderArg) -> Self {
        match arg {
            ProviderArg::Anthropic => Provider::Anthropic,
            ProviderArg::Codex => Provider::Codex,
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in an account with the provider's OAuth flow and add it to the pool.
    Login(LoginArgs),
    /// List, add, remove, switch on/off, rename or re-login accounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Every account's state, usage windows, plan, token expiry and holder.
    Status(StatusArgs),
    /// Import logins other tools already have (OpenCode, Claude Code, Codex CLI, the plugins).
    Import(ImportArgs),
    /// Check, show or locate `config.toml`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Find what is wrong with the data directory, files, config, claims and tokens.
    Doctor(DoctorArgs),
    /// Move the pools to another storage backend (PostgreSQL, for several hosts).
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The interactive account manager (needs a terminal).
    Menu(MenuArgs),
    /// Run the local gateway: point Claude Code, Codex CLI or OpenCode at it and every request
    /// is served by a healthy account of the pool.
    Serve(ServeArgs),
    /// See the pool at work with no account and no network: a fake provider with three
    /// simulated accounts, the gateway in front, and a scripted load that rotates.
    Demo(DemoArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

/// `mac login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Which provider.
    pub provider: ProviderArg,
    /// How to log in.
    #[command(flatten)]
    pub flow: LoginFlowArgs,
    /// A label for the account.
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
}

/// How to log in.
#[derive(Clone, Copy, Debug, Args)]
pub struct LoginFlowArgs {
    /// Paste the redirect URL or code instead of waiting for the browser (SSH, containers).
    #[arg(long, conflicts_with = "device")]
    pub manual: bool,
    /// Codex only: the device-code login (enter a code on another device).
    #[arg(long)]
    pub device: bool,
}

/// `mac accounts …`.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// List the accounts (the `#` column is the index `<ID>` accepts).
    List {
        /// Only this provider's accounts.
        provider: Option<ProviderArg>,
        /// One JSON document on standard output.
        #[arg(long)]
        json: bool,
    },
    /// Add an account from tokens you already have; prints its id alone.
    Add(AddArgs),
    /// Remove an account.
    Remove {
        /// The account.
        #[command(flatten)]
        target: AccountTarget,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Switch an account on.
    Enable {
        /// The account.
        #[command(flatten)]
        target: AccountTarget,
    },
    /// Switch an account off (it stays in the pool).
    Disable {
        /// The account.
        #[command(flatten)]
        target: AccountTarget,
    },
    /// Give an account a label.
    Rename {
        /// The account.
        #[command(flatten)]
        target: AccountTarget,
        /// The new label.
        label: String,
    },
    /// Log an account in again and give it the new tokens.
    Relogin {
        /// The account.
        #[command(flatten)]
        target: AccountTarget,
        /// How to log in.
        #[command(flatten)]
        flow: LoginFlowArgs,
    },
}

/// An account named on the command line.
#[derive(Clone, Debug, Args)]
pub struct AccountTarget {
    /// A uuid, a unique uuid prefix, a label or email, or the `#` of `mac accounts list`.
    pub id: String,
    /// Look only in this provider's pool (the `#` then counts in that pool).
    #[arg(long, short = 'p', value_name = "PROVIDER")]
    pub provider: Option<ProviderArg>,
}

/// `mac accounts add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Which provider.
    pub provider: ProviderArg,
    /// The refresh token; `-` reads it from standard input.
    #[arg(long, value_name = "T|-")]
    pub refresh_token: String,
    /// The access token (for codex, the ChatGPT account id is read from it).
    #[arg(long, value_name = "A")]
    pub access_token: Option<String>,
    /// When the access token expires, in epoch milliseconds.
    #[arg(long, value_name = "EPOCH_MS", allow_negative_numbers = true)]
    pub expires_at: Option<i64>,
    /// A label.
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// The account's email.
    #[arg(long, value_name = "E")]
    pub email: Option<String>,
}

/// `mac status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this provider's pool.
    pub provider: Option<ProviderArg>,
    /// One JSON document on standard output.
    #[arg(long, conflicts_with = "watch")]
    pub json: bool,
    /// Fetch every account's usage from the provider first.
    #[arg(long)]
    pub refresh: bool,
    /// Redraw in place until interrupted (Ctrl-C).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between redraws with `--watch`.
    #[arg(long, value_name = "SECONDS", default_value_t = 2, requires = "watch",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub interval: u64,
}

/// `mac import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Which tool's logins to import.
    #[arg(long, value_enum, default_value_t = ImportFrom::All)]
    pub from: ImportFrom,
    /// Show what would be imported; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON document on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `mac import --from`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFrom {
    /// OpenCode's `auth.json`.
    Opencode,
    /// Claude Code's `.credentials.json`.
    ClaudeCode,
    /// Codex CLI's `auth.json`.
    CodexCli,
    /// The TypeScript multi-account plugins' pool files.
    Plugin,
    /// Every source.
    All,
}

/// `mac config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate `config.toml` and the `MAC_*` variables; list every problem.
    Check,
    /// Every setting in effect, as TOML, with where each value comes from.
    Show,
    /// The path of `config.toml`.
    Path,
}

/// `mac doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also check that every provider endpoint answers.
    #[arg(long)]
    pub online: bool,
    /// One JSON document on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `mac storage …`.
#[derive(Debug, Subcommand)]
pub enum StorageCommand {
    /// Copy every provider's accounts file into PostgreSQL (idempotent; each file is then
    /// kept as a read-only `<file>.migrated.<ms>.bak`).
    Migrate(MigrateArgs),
}

/// `mac storage migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The backend to move the pools to.
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub to: MigrateTo,
    /// The database's postgres://USER:PASSWORD@HOST:PORT/DATABASE URL (else `[storage] url`
    /// or `MAC_STORAGE_URL`, which keep the password out of the process list).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Show what would be copied; change nothing (not even the database's schema).
    #[arg(long)]
    pub dry_run: bool,
    /// Afterwards, set `[storage] backend = "postgres"` (and `url`, when given with `--url`)
    /// in `config.toml`.
    #[arg(long, conflicts_with = "dry_run")]
    pub write_config: bool,
    /// One JSON document on standard output.
    #[arg(long)]
    pub json: bool,
}

/// `mac storage migrate --to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MigrateTo {
    /// A PostgreSQL database shared by several hosts.
    Postgres,
}

/// `mac menu`.
#[derive(Debug, Args)]
pub struct MenuArgs {
    /// The pool to manage (asked when not given).
    pub provider: Option<ProviderArg>,
}

/// `mac serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (else `[gateway] listen`, 127.0.0.1:8765); port 0 picks a free
    /// port. A non-loopback address needs `[gateway] inbound_key`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// `mac demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pause between the chunks of each simulated stream, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub pause_ms: u64,
}

/// `mac completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
