//! The plan half of an import: what [`crate::import::scan`] found in the sources, before any
//! pool is touched.

use mac_storage::{NewAccount, Provider, StoredAccount};

use crate::import::report::{FileStatus, SkipReason};
use crate::import::sources::SourceFile;

/// An account found in a source, ready to be added.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Its tokens and identity (tokens are [`mac_storage::Secret`]s: `Debug` redacts them).
    pub account: NewAccount,
    /// For a plugin pool entry, the account as the plugin stored it. When the account is new
    /// to the pool, its state comes along: on/off switch, authentication disable and its
    /// reason, failure count, usage snapshot, rate-limit deadline, label, plan, added and
    /// last-used times. The local uuid is always a fresh one.
    pub seed: Option<StoredAccount>,
}

impl Candidate {
    /// An account with tokens and identity only.
    pub fn new(account: NewAccount) -> Self {
        Self { account, seed: None }
    }

    /// Its label, else its email, when known.
    pub fn name(&self) -> Option<&str> {
        [&self.account.label, &self.account.email]
            .into_iter()
            .find_map(|value| value.as_deref().filter(|v| !v.is_empty()))
    }
}

/// What an entry of a source holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// An importable account.
    Account(Box<Candidate>),
    /// An entry that can never be imported, and why.
    Unusable(SkipReason),
}

/// One entry of a source file.
#[derive(Clone, Debug, PartialEq)]
pub struct ScannedEntry {
    /// Where in the file: `anthropic`, `accounts[2]`, `claudeAiOauth`, `tokens`, ….
    pub entry: String,
    /// The pool it belongs to (OpenCode's `openai` is the `codex` pool).
    pub provider: Provider,
    /// What it holds.
    pub found: Found,
}

impl ScannedEntry {
    pub(crate) fn account(entry: impl Into<String>, provider: Provider, found: Candidate) -> Self {
        Self { entry: entry.into(), provider, found: Found::Account(Box::new(found)) }
    }

    pub(crate) fn unusable(
        entry: impl Into<String>,
        provider: Provider,
        reason: SkipReason,
    ) -> Self {
        Self { entry: entry.into(), provider, found: Found::Unusable(reason) }
    }
}

/// One source file as read.
#[derive(Debug)]
pub struct ScannedFile {
    /// The file.
    pub source: SourceFile,
    /// Whether it could be read.
    pub status: FileStatus,
    /// Its entries, in file order (none unless the status is [`FileStatus::Read`]).
    pub entries: Vec<ScannedEntry>,
}

/// Everything the sources hold, read without changing anything. Pass it to
/// [`crate::import::apply`] to write the accounts into the pools.
#[derive(Debug, Default)]
pub struct ImportScan {
    /// The files, in reading order.
    pub files: Vec<ScannedFile>,
}

impl ImportScan {
    /// Every importable account, in order, with its provider.
    pub fn candidates(&self) -> impl Iterator<Item = (Provider, &Candidate)> {
        self.files.iter().flat_map(|file| &file.entries).filter_map(|entry| match &entry.found {
            Found::Account(candidate) => Some((entry.provider, &**candidate)),
            Found::Unusable(_) => None,
        })
    }

    /// Keeps only the entries of `provider` (for an import into one pool).
    pub fn retain_provider(&mut self, provider: Provider) {
        for file in &mut self.files {
            file.entries.retain(|entry| entry.provider == provider);
        }
    }
}
