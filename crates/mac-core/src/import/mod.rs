//! Import of the accounts people already have logged in elsewhere — read-only on the sources,
//! idempotent, with an outcome per account: OpenCode's `auth.json`, the TypeScript
//! multi-account plugins' pool files, Claude Code's credentials and Codex CLI's `auth.json`.
//!
//! An import is a plan and an apply:
//!
//! ```no_run
//! use mac_core::import::{ImportSources, ImportTargets, apply, scan};
//! use mac_core::storage::{AccountStore, DataDir, EpochMs, Provider, StoreOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data_dir = DataDir::from_process_env()?;
//! let anthropic = AccountStore::open(&data_dir, Provider::Anthropic, StoreOptions::default())?;
//! let codex = AccountStore::open(&data_dir, Provider::Codex, StoreOptions::default())?;
//! let found = scan(&ImportSources::from_process_env());
//! let report = apply(found, &ImportTargets { anthropic: &anthropic, codex: &codex }, EpochMs::now());
//! for file in &report.files {
//!     for account in &file.accounts {
//!         println!("{}: {} {}", file.source.path.display(), account.entry, account.outcome);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`scan`] reads every source of an [`ImportSources`] (located from an environment lookup,
//! plus explicit paths) into an [`ImportScan`]: per file its [`FileStatus`] and per entry a
//! [`Candidate`] or the reason it can never be imported. [`apply`] merges the candidates into
//! the pools through [`mac_storage::AccountStore::mutate`] and returns an [`ImportReport`]:
//! per account [`Outcome::Added`], [`Outcome::Updated`] or [`Outcome::Skipped`] with its
//! reason.
//!
//! # Sources are read-only
//! A source file is opened for reading only, never locked and never written (D3): the plugins'
//! `mkdir` locks and ours do not see each other, and the other tools own their files. A file
//! that is unreadable (permissions) or malformed (not JSON, an unknown shape) is reported with
//! its path and imports nothing; a bad entry inside a good file is reported alone and the
//! file's other entries still import (a bad `anthropic` entry of OpenCode's `auth.json` does
//! not stop its `openai` one; a bad account of a plugin pool does not stop the others).
//! Unknown shapes are reported, never guessed at.
//!
//! # The rules of apply
//! Candidates are taken in source order (plugin pools first, see [`ImportSources::locate`]),
//! each provider's in one locked read-modify-write of its pool. For each candidate:
//!
//! 1. **Which account of the pool is it?** The store's identity (D4, as
//!    [`mac_storage::AccountStore::add_account`] decides it): the same refresh token; else a
//!    refresh token that was imported into that account before (below); else the same provider
//!    account id with no conflicting email; else the same email with no conflicting provider id.
//! 2. **None: added.** With a fresh local uuid (the plugins' uuids are not kept: the TypeScript
//!    plugin may have replaced them with Anthropic's account uuid, and nothing in mac refers to
//!    them). A plugin pool account keeps its state: on/off switch, authentication disable and
//!    reason, failure count, usage snapshot, rate-limit deadline, label, plan, added and
//!    last-used times; fields of the plugins unknown to mac are dropped. The first account
//!    added to an empty pool becomes the active one (as the plugins' migration did), an enabled one if any.
//! 3. **Same tokens: skipped**, "already in the pool". This makes an import idempotent: run
//!    twice, the second run adds nothing and writes nothing.
//! 4. **Other tokens: newer wins, the pool on a tie.** The source's tokens replace the pool's
//!    only if its access token expires strictly later (no expiry counts as the oldest). An
//!    import must never swap a freshly rotated refresh token for a spent one: that would lose
//!    the account. An update changes the tokens, fills identity fields the account lacks, and
//!    clears the authentication disable and failure count (they judged the replaced tokens,
//!    D11); the on/off switch, usage, rate limits, label and plan stay. Nothing else of an
//!    account already in the pool ever changes.
//!
//! # Import fingerprints
//! Sources such as OpenCode's `auth.json` or Claude Code's file name no email or account id
//! for Anthropic, so once the pool has refreshed (and so rotated) an imported token, the
//! source's old token would match nothing and a second import would add the account again with
//! spent tokens. So every account records the SHA-256 fingerprints of the refresh tokens
//! imported into it (`importFingerprints`, at most 8, newest last; a fingerprint does not
//! reveal the token), and a candidate whose refresh token was imported before is recognized
//! as that account (rule 1) and skipped, since the pool's tokens are newer.
//!
//! # Sharing a login with the tool it came from
//! An imported login is the same OAuth grant the source tool keeps using. Both providers
//! rotate refresh tokens: when the tool refreshes, the pool's copy is spent, and the other way
//! round. A pool account that stops refreshing is disabled (never deleted) by the executor;
//! `mac login` creates an independent grant. Importing again picks up the tool's newer tokens
//! (rule 4) when the account is recognized.
//!
//! # Secrets
//! Tokens are [`mac_storage::Secret`]s from the moment they are read; no report, error or
//! `Debug` output contains one, and no message quotes a value read from a source (D18).

mod apply;
mod claude_code;
mod codex_cli;
mod error;
mod opencode;
mod plan;
mod plugin_pool;
mod read;
mod report;
mod sources;

pub use apply::{IMPORT_FINGERPRINTS_KEY, ImportTargets, apply};
pub use error::SourceError;
pub use plan::{Candidate, Found, ImportScan, ScannedEntry, ScannedFile};
pub use report::{
    AccountReport, FileReport, FileStatus, ImportReport, Match, Outcome, SkipReason, UpdateReason,
};
pub use sources::{
    ANTHROPIC_PLUGIN_POOL_FILE, CLAUDE_CONFIG_DIR_ENV, CODEX_HOME_ENV, ImportSources,
    OPENAI_PLUGIN_POOL_FILE, OPENCODE_CONFIG_DIR_ENV, SourceFile, SourceKind,
};

use std::path::Path;

use crate::import::read::{CREDENTIALS_LIMIT, parse_json, read_bytes};

/// Reads every source file, in order, without changing anything: what [`apply`] would
/// import. Each file is read once, read-only.
pub fn scan(sources: &ImportSources) -> ImportScan {
    let files = sources.files().iter().map(scan_file).collect();
    ImportScan { files }
}

fn scan_file(source: &SourceFile) -> ScannedFile {
    let limit = match source.kind {
        SourceKind::PluginPool(_) => plugin_pool::size_limit(),
        _ => CREDENTIALS_LIMIT,
    };
    let read = read_bytes(&source.path, limit)
        .and_then(|bytes| bytes.map(|bytes| parse(source.kind, &source.path, &bytes)).transpose());
    let (status, entries) = match read {
        Ok(Some(entries)) => (FileStatus::Read, entries),
        Ok(None) => (FileStatus::NotFound, Vec::new()),
        Err(problem) => (FileStatus::from_error(problem), Vec::new()),
    };
    tracing::debug!(path = %source.path.display(), kind = %source.kind, %status, entries = entries.len(), "import: scanned");
    ScannedFile { source: source.clone(), status, entries }
}

fn parse(kind: SourceKind, path: &Path, bytes: &[u8]) -> Result<Vec<ScannedEntry>, SourceError> {
    match kind {
        SourceKind::PluginPool(provider) => plugin_pool::parse(path, provider, bytes),
        SourceKind::OpenCodeAuth => opencode::parse(path, &parse_json(path, bytes)?),
        SourceKind::ClaudeCode => claude_code::parse(path, &parse_json(path, bytes)?),
        SourceKind::CodexCli => codex_cli::parse(path, &parse_json(path, bytes)?),
    }
}
