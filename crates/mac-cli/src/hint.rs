//! Hints: what a person can do about an error, as data — a `mac` command to run, a flag, a
//! file, or a config key — never text baked into an error message. Every command a hint can
//! name is a [`HintCommand`], and a test parses each one with the real argument definitions,
//! so a hint never names a command that does not exist.

use std::fmt;
use std::path::PathBuf;

use mac_storage::Provider;

/// A `mac` command a hint can name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HintCommand {
    /// `mac accounts list`.
    AccountsList,
    /// `mac login <provider>`.
    Login(Provider),
    /// `mac accounts relogin <id>`.
    Relogin(String),
    /// `mac accounts add <provider> --refresh-token -`.
    AccountsAdd(Provider),
    /// `mac status`.
    Status,
    /// `mac doctor`.
    Doctor,
    /// `mac config check`.
    ConfigCheck,
    /// `mac import`.
    Import,
    /// `mac accounts remove <id> --yes`.
    RemoveYes(String),
    /// `mac accounts enable <id>`.
    Enable(String),
    /// `mac storage migrate --to postgres`.
    MigrateToPostgres,
}

impl HintCommand {
    /// The command's words after `mac`.
    pub fn args(&self) -> Vec<String> {
        let words: Vec<&str> = match self {
            HintCommand::AccountsList => vec!["accounts", "list"],
            HintCommand::Login(provider) => vec!["login", provider.as_str()],
            HintCommand::Relogin(id) => vec!["accounts", "relogin", id],
            HintCommand::AccountsAdd(provider) => {
                vec!["accounts", "add", provider.as_str(), "--refresh-token", "-"]
            }
            HintCommand::Status => vec!["status"],
            HintCommand::Doctor => vec!["doctor"],
            HintCommand::ConfigCheck => vec!["config", "check"],
            HintCommand::Import => vec!["import"],
            HintCommand::RemoveYes(id) => vec!["accounts", "remove", id, "--yes"],
            HintCommand::Enable(id) => vec!["accounts", "enable", id],
            HintCommand::MigrateToPostgres => vec!["storage", "migrate", "--to", "postgres"],
        };
        words.into_iter().map(str::to_owned).collect()
    }

    /// One of each kind, for the test that every hinted command parses.
    pub fn samples() -> Vec<HintCommand> {
        let mut all = vec![
            HintCommand::AccountsList,
            HintCommand::Relogin("1".into()),
            HintCommand::Status,
            HintCommand::Doctor,
            HintCommand::ConfigCheck,
            HintCommand::Import,
            HintCommand::RemoveYes("1".into()),
            HintCommand::Enable("1".into()),
            HintCommand::MigrateToPostgres,
        ];
        for provider in Provider::ALL {
            all.push(HintCommand::Login(provider));
            all.push(HintCommand::AccountsAdd(provider));
        }
        all
    }
}

impl fmt::Display for HintCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mac {}", self.args().join(" "))
    }
}

/// How a new user gets accounts: import the logins other tools have, or log in.
pub fn first_steps() -> Vec<HintCommand> {
    vec![
        HintCommand::Import,
        HintCommand::Login(Provider::Anthropic),
        HintCommand::Login(Provider::Codex),
    ]
}

/// What to do about an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hint {
    /// Run these commands (any of them).
    Run(Vec<HintCommand>),
    /// Use or fix this flag.
    Flag(&'static str),
    /// Look at (or fix) this file.
    File(PathBuf),
    /// Set this `config.toml` key (`[section] key`).
    ConfigKey(String),
    /// Run this shell command (`chmod 600 …`).
    Shell(String),
}

impl Hint {
    /// Run one command.
    pub fn run(command: HintCommand) -> Self {
        Hint::Run(vec![command])
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Run(commands) => {
                let shown: Vec<String> = commands.iter().map(|c| format!("`{c}`")).collect();
                write!(f, "run {}", shown.join(" or "))
            }
            Hint::Flag(flag) => write!(f, "check `{flag}`"),
            Hint::File(path) => write!(f, "see {}", path.display()),
            Hint::ConfigKey(key) => write!(f, "set {key} in config.toml"),
            Hint::Shell(command) => write!(f, "run `{command}`"),
        }
    }
}
