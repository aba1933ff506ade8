//! The errors of the `mac` command: what failed at this layer, with the lower layers' errors
//! as transparent sources, an exit code (1 failed, 2 usage error) and a [`Hint`] as data.
//! [`report`] prints the whole chain of causes, each once.

use std::error::Error as _;
use std::io;
use std::path::PathBuf;

use mac_adapters::{ClientBuildError, LoginError};
use mac_core::ConfigErrors;
use mac_storage::{DataDirError, Provider, StoreError};
use mac_ui::PromptError;
use snafu::Snafu;

use crate::hint::{Hint, HintCommand};

/// Exit status of a command that failed.
pub const EXIT_FAILED: u8 = 1;
/// Exit status of bad input: arguments, an account id that names nothing, no terminal.
pub const EXIT_USAGE: u8 = 2;

/// Why a `mac` command failed.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum CliError {
    /// The data directory could not be found or made.
    #[snafu(display("{source}"), context(false))]
    DataDir {
        /// The cause.
        source: DataDirError,
    },
    /// The data directory path is a file.
    #[snafu(display("the data directory {} is not a directory", path.display()))]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// Reading or changing an accounts file failed.
    #[snafu(display("{source}"), context(false))]
    Store {
        /// The cause (names the file).
        source: StoreError,
    },
    /// `config.toml` or a `MAC_*` variable is invalid.
    #[snafu(display("the configuration is invalid:\n{}", list(errors)))]
    Config {
        /// Every problem.
        errors: ConfigErrors,
        /// The file.
        path: PathBuf,
    },
    /// No account matches the id.
    #[snafu(display("no account matches `{id}`{}", scope(*provider)))]
    UnknownAccount {
        /// What was typed.
        id: String,
        /// The pool searched, if narrowed.
        provider: Option<Provider>,
    },
    /// Several accounts match the id.
    #[snafu(display("`{id}` matches {} accounts: {}", matches.len(), matches.join(", ")))]
    AmbiguousAccount {
        /// What was typed.
        id: String,
        /// The accounts it matches (`provider name (uuid)`).
        matches: Vec<String>,
    },
    /// A token given on the command line is not usable.
    #[snafu(display("the {what} is not usable: {problem}"))]
    MalformedToken {
        /// Which token.
        what: &'static str,
        /// Why (never quoting it).
        problem: &'static str,
        /// The flag it came from.
        flag: &'static str,
    },
    /// Standard input could not be read.
    #[snafu(display("cannot read standard input: {source}"))]
    Stdin {
        /// The cause.
        source: io::Error,
    },
    /// A flag does not apply.
    #[snafu(display("{message}"))]
    Usage {
        /// What is wrong.
        message: String,
        /// The flag.
        flag: &'static str,
    },
    /// The interactive menu needs a terminal.
    #[snafu(display("{source}"))]
    NoTerminal {
        /// The cause.
        source: PromptError,
    },
    /// A prompt failed.
    #[snafu(display("{source}"), context(false))]
    Prompt {
        /// The cause.
        source: PromptError,
    },
    /// The login did not finish.
    #[snafu(display("the {provider} login failed: {source}"))]
    Login {
        /// Which provider.
        provider: Provider,
        /// The cause.
        source: LoginError,
    },
    /// The login was of another account than the one to re-login.
    #[snafu(display(
        "the login was for {got}, not {expected}; nothing was changed (log in as {expected}, or \
         add the other account as a new one)"
    ))]
    WrongAccount {
        /// Who logged in.
        got: String,
        /// The account to re-login.
        expected: String,
        /// Its provider.
        provider: Provider,
    },
    /// The HTTP client could not be built.
    #[snafu(display("{source}"), context(false))]
    Client {
        /// The cause.
        source: ClientBuildError,
    },
    /// The endpoint configuration is not usable.
    #[snafu(display("the {provider} endpoints are not usable: {message}"))]
    Endpoints {
        /// Which provider.
        provider: Provider,
        /// Why.
        message: String,
    },
    /// The gateway could not start or stopped with an error.
    #[snafu(display("{source}"), context(false))]
    Gateway {
        /// The cause.
        source: mac_gateway::GatewayError,
    },
    /// The async runtime could not start.
    #[snafu(display("cannot start the async runtime: {source}"))]
    Runtime {
        /// The cause.
        source: io::Error,
    },
    /// Removing needs confirmation that cannot be asked.
    #[snafu(display("removing {name} needs confirmation and there is no terminal to ask"))]
    NeedsConfirmation {
        /// The account.
        name: String,
        /// Its id.
        id: String,
    },
    /// A file could not be written.
    #[snafu(display("cannot write {}: {source}", path.display()))]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The accounts storage could not be opened (the PostgreSQL database of `[storage] url`).
    #[snafu(display("{source}"), context(false))]
    Setup {
        /// The cause (never the URL's password).
        source: mac_core::SetupError,
    },
    /// The command ran and found problems it already printed.
    #[snafu(display("{what}"))]
    Reported {
        /// A one-line summary.
        what: String,
        /// What to do, if something.
        hint: Option<Hint>,
    },
}

fn scope(provider: Option<Provider>) -> String {
    provider.map(|p| format!(" in the {p} pool")).unwrap_or_default()
}

fn list(errors: &ConfigErrors) -> String {
    errors.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

impl CliError {
    /// The exit status: [`EXIT_USAGE`] for bad input, else [`EXIT_FAILED`].
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::UnknownAccount { .. }
            | CliError::AmbiguousAccount { .. }
            | CliError::MalformedToken { .. }
            | CliError::Usage { .. }
            | CliError::NoTerminal { .. }
            | CliError::NeedsConfirmation { .. } => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }

    /// What the person can do, when there is something.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            CliError::DataDir { .. } | CliError::NotADirectory { .. } => Some(Hint::Flag("--home")),
            CliError::Store { source } => store_hint(source),
            CliError::Config { .. } => Some(Hint::run(HintCommand::ConfigCheck)),
            CliError::UnknownAccount { .. } | CliError::AmbiguousAccount { .. } => {
                Some(Hint::run(HintCommand::AccountsList))
            }
            CliError::MalformedToken { flag, .. } | CliError::Usage { flag, .. } => {
                Some(Hint::Flag(flag))
            }
            CliError::Stdin { .. } => Some(Hint::Flag("--refresh-token")),
            CliError::NoTerminal { .. } => Some(Hint::Run(vec![
                HintCommand::Status,
                HintCommand::AccountsList,
                HintCommand::Login(Provider::Anthropic),
                HintCommand::Login(Provider::Codex),
            ])),
            // The callback port is taken (another login, another program): the manual login
            // needs no port.
            CliError::Login { source: LoginError::CallbackBind { .. }, .. } => {
                Some(Hint::Flag("--manual"))
            }
            CliError::Login { provider, source } if source.is_retryable() => {
                Some(Hint::run(HintCommand::Login(*provider)))
            }
            CliError::Login { provider, .. } => Some(Hint::Run(vec![
                HintCommand::Login(*provider),
                HintCommand::AccountsAdd(*provider),
            ])),
            CliError::WrongAccount { provider, .. } => {
                Some(Hint::run(HintCommand::Login(*provider)))
            }
            CliError::Endpoints { provider, .. } => {
                Some(Hint::ConfigKey(format!("[providers.{provider}]")))
            }
            CliError::NeedsConfirmation { id, .. } => {
                Some(Hint::run(HintCommand::RemoveYes(id.clone())))
            }
            CliError::Reported { hint, .. } => hint.clone(),
            CliError::WriteFile { path, .. } => Some(Hint::File(path.clone())),
            CliError::Gateway { source } => gateway_hint(source),
            CliError::Setup { source } => setup_hint(source),
            CliError::Prompt { .. } | CliError::Client { .. } | CliError::Runtime { .. } => None,
        }
    }
}

fn gateway_hint(error: &mac_gateway::GatewayError) -> Option<Hint> {
    use mac_gateway::GatewayError;
    match error {
        GatewayError::NoInboundKey { .. } => Some(Hint::ConfigKey("[gateway] inbound_key".into())),
        GatewayError::Bind { .. } => Some(Hint::Flag("--listen")),
        GatewayError::Pool { source: mac_core::SetupError::Config { .. }, .. }
        | GatewayError::Storage { source: mac_core::SetupError::Config { .. } } => {
            Some(Hint::run(HintCommand::ConfigCheck))
        }
        GatewayError::Pool { source: mac_core::SetupError::Store { source }, .. }
        | GatewayError::Storage { source: mac_core::SetupError::Store { source } } => {
            store_hint(source)
        }
        GatewayError::Pool { .. } | GatewayError::Storage { .. } => {
            Some(Hint::run(HintCommand::Doctor))
        }
        GatewayError::Endpoints { provider, .. } => {
            Some(Hint::ConfigKey(format!("[providers.{provider}]")))
        }
        GatewayError::Client { .. } => None,
    }
}

fn setup_hint(error: &mac_core::SetupError) -> Option<Hint> {
    use mac_core::SetupError;
    use mac_core::postgres::PostgresError;
    match error {
        SetupError::StorageUrlMissing => Some(Hint::ConfigKey("[storage] url".into())),
        SetupError::Postgres { source: PostgresError::SchemaNewer { .. } } => {
            Some(Hint::Shell("cargo install --path crates/mac-cli".into()))
        }
        SetupError::Postgres { source: PostgresError::Url { .. } } => {
            Some(Hint::ConfigKey("[storage] url".into()))
        }
        SetupError::Postgres { .. } => Some(Hint::run(HintCommand::Doctor)),
        SetupError::Config { .. } => Some(Hint::run(HintCommand::ConfigCheck)),
        SetupError::Store { source } => store_hint(source),
        _ => None,
    }
}

fn store_hint(error: &StoreError) -> Option<Hint> {
    match error {
        StoreError::Invalid { path, .. } => Some(Hint::File(path.clone())),
        StoreError::NewerVersion { .. } => Some(Hint::run(HintCommand::Doctor)),
        StoreError::Lock { .. } => Some(Hint::run(HintCommand::Status)),
        StoreError::DataDir { .. } | StoreError::Io { .. } => Some(Hint::Flag("--home")),
        _ => None,
    }
}

/// The lines printed for an error: `error: <what failed>`, then each cause not already said,
/// then `hint: …`.
pub fn report(error: &CliError) -> Vec<String> {
    let top = error.to_string();
    let mut lines = vec![format!("error: {top}")];
    let mut said = top;
    let mut cause = error.source();
    while let Some(err) = cause {
        let text = err.to_string();
        if !said.contains(&text) {
            lines.push(format!("  caused by: {text}"));
            said.push('\n');
            said.push_str(&text);
        }
        cause = err.source();
    }
    if let Some(hint) = error.hint() {
        lines.push(format!("hint: {hint}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn every_cause_is_said_once() {
        let inner = Layer { text: "connection refused", source: None };
        let middle = Layer { text: "the socket closed", source: Some(Box::new(inner)) };
        let error = CliError::Runtime { source: io::Error::other(middle) };
        assert_eq!(
            report(&error),
            [
                "error: cannot start the async runtime: the socket closed",
                "  caused by: connection refused",
            ]
        );
        let unknown = CliError::UnknownAccount { id: "x".into(), provider: Some(Provider::Codex) };
        assert_eq!(
            report(&unknown),
            ["error: no account matches `x` in the codex pool", "hint: run `mac accounts list`"]
        );
    }
}
