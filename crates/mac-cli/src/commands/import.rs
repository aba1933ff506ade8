//! `mac import`: reads the logins other tools keep (read-only) and adds them to the pools,
//! saying per account what happened, then why an imported login is shared with its tool and
//! the two ways out. `--dry-run` applies the same rules to copies of the pools in a private
//! temporary directory, so what it reports is exactly what a real run would do, and the data
//! directory is not touched.

use std::path::Path;

use mac_core::MacConfig;
use mac_core::import::{
    ImportReport, ImportSources, ImportTargets, Outcome, SourceKind, apply, scan,
};
use mac_storage::{AccountStore, DataDir, EpochMs, Provider};
use serde::Serialize;

use crate::args::{ImportArgs, ImportFrom};
use crate::context::Context;
use crate::error::CliError;
use crate::hint::Hint;
use crate::views::provider_name;

/// Why an imported login needs care, and the ways out (printed after an import that added or
/// updated accounts).
const SHARED_GRANT: &str = "An imported login is the same OAuth grant the tool it came from \
keeps using: when either one refreshes it, the other's refresh token is spent and that side \
must log in again. Two ways out: point that tool at `mac serve` so only mac refreshes, or run \
`mac login <provider>` for an independent grant and log the tool in separately.";

/// The JSON document of `mac import`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportView {
    dry_run: bool,
    added: usize,
    updated: usize,
    skipped: usize,
    files: Vec<FileView>,
    /// The shared-grant warning, when something was (or would be) imported.
    warning: Option<&'static str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct FileView {
    kind: String,
    path: String,
    /// `read`, `not found`, `unreadable` or `malformed`.
    status: &'static str,
    problem: Option<String>,
    accounts: Vec<ImportedView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportedView {
    entry: String,
    #[serde(serialize_with = "provider_name")]
    provider: Provider,
    name: Option<String>,
    /// `added`, `updated` or `skipped`.
    outcome: &'static str,
    /// The pool's account, when there is one.
    id: Option<String>,
    /// What happened, in words.
    detail: String,
}

/// Runs `mac import`.
pub(crate) fn run(ctx: &Context, args: &ImportArgs) -> Result<(), CliError> {
    let config = ctx.config()?;
    let sources = select(&ImportSources::from_process_env(), args.from);
    let found = scan(&sources);
    let now = EpochMs::now();
    // With nothing to import, the pools are not opened for writing, so a first `mac import`
    // that finds nothing creates no data directory.
    let report = if args.dry_run || found.candidates().next().is_none() {
        dry_run(ctx, &config, found, now)?
    } else {
        let anthropic = ctx.writer(Provider::Anthropic, &config)?;
        let codex = ctx.writer(Provider::Codex, &config)?;
        apply(found, &ImportTargets { anthropic: &anthropic, codex: &codex }, now)
    };
    let view = view_of(&report, args.dry_run);
    if args.json {
        ctx.printer.json(&view);
    } else {
        print_human(ctx, &view);
    }
    let broken: Vec<&FileView> = view.files.iter().filter(|f| f.problem.is_some()).collect();
    let pool_refused = report.accounts().any(|a| {
        matches!(
            &a.outcome,
            Outcome::Skipped { reason: mac_core::import::SkipReason::PoolUnusable { .. } }
        )
    });
    match broken.first() {
        Some(file) => Err(CliError::Reported {
            what: format!("{} source file(s) could not be read", broken.len()),
            hint: Some(Hint::File(file.path.clone().into())),
        }),
        None if pool_refused => Err(CliError::Reported {
            what: "a pool file could not be changed".into(),
            hint: Some(Hint::run(crate::hint::HintCommand::Doctor)),
        }),
        None => Ok(()),
    }
}

/// The sources of `from`.
fn select(all: &ImportSources, from: ImportFrom) -> ImportSources {
    let wanted = |kind: SourceKind| match from {
        ImportFrom::All => true,
        ImportFrom::Opencode => kind == SourceKind::OpenCodeAuth,
        ImportFrom::ClaudeCode => kind == SourceKind::ClaudeCode,
        ImportFrom::CodexCli => kind == SourceKind::CodexCli,
        ImportFrom::Plugin => matches!(kind, SourceKind::PluginPool(_)),
    };
    let mut chosen = ImportSources::new();
    for file in all.files().iter().filter(|f| wanted(f.kind)) {
        chosen.add(file.kind, file.path.clone());
    }
    chosen
}

/// Applies to copies of the pools: a `0700` temporary directory that is removed at the end.
fn dry_run(
    ctx: &Context,
    config: &MacConfig,
    found: mac_core::import::ImportScan,
    now: EpochMs,
) -> Result<ImportReport, CliError> {
    let scratch = tempfile::Builder::new()
        .prefix("mac-import-dry-run")
        .tempdir()
        .map_err(|source| CliError::WriteFile { path: std::env::temp_dir(), source })?;
    let copy = DataDir::at(scratch.path());
    for provider in Provider::ALL {
        let real = ctx.reader(provider, config)?;
        let document = real.load()?;
        let scratch_store =
            AccountStore::at_path(copy.accounts_file(provider), config.store_options());
        if !document.accounts.is_empty() {
            scratch_store.mutate(|doc| {
                doc.clone_from(&document);
                Ok(())
            })?;
        }
    }
    let anthropic =
        AccountStore::at_path(copy.accounts_file(Provider::Anthropic), config.store_options());
    let codex = AccountStore::at_path(copy.accounts_file(Provider::Codex), config.store_options());
    let mut report = apply(found, &ImportTargets { anthropic: &anthropic, codex: &codex }, now);
    // Problems name the scratch file; name the real one instead.
    for file in &mut report.files {
        for account in &mut file.accounts {
            if let Outcome::Skipped {
                reason: mac_core::import::SkipReason::PoolUnusable { problem },
            } = &mut account.outcome
            {
                *problem = rename_path(problem, scratch.path(), ctx.data_dir.path());
            }
        }
    }
    Ok(report)
}

fn rename_path(text: &str, from: &Path, to: &Path) -> String {
    text.replace(&from.display().to_string(), &to.display().to_string())
}

fn view_of(report: &ImportReport, dry_run: bool) -> ImportView {
    let files = report
        .files
        .iter()
        .map(|file| FileView {
            kind: file.source.kind.to_string(),
            path: file.source.path.display().to_string(),
            status: match file.status {
                mac_core::import::FileStatus::Read => "read",
                mac_core::import::FileStatus::NotFound => "not found",
                mac_core::import::FileStatus::Unreadable { .. } => "unreadable",
                mac_core::import::FileStatus::Malformed { .. } => "malformed",
            },
            problem: file.status.problem().map(ToString::to_string),
            accounts: file
                .accounts
                .iter()
                .map(|a| {
                    let (outcome, id) = match &a.outcome {
                        // A dry run's new uuid belongs to the scratch copy: it means nothing.
                        Outcome::Added { .. } if dry_run => ("added", None),
                        Outcome::Added { uuid } => ("added", Some(uuid.clone())),
                        Outcome::Updated { uuid, .. } => ("updated", Some(uuid.clone())),
                        Outcome::Skipped { reason } => ("skipped", skip_uuid(reason)),
                    };
                    ImportedView {
                        entry: a.entry.clone(),
                        provider: a.provider,
                        name: a.name.clone(),
                        outcome,
                        id,
                        detail: match &a.outcome {
                            Outcome::Added { .. } if dry_run => "would be added".to_owned(),
                            Outcome::Updated { why, .. } if dry_run => {
                                format!("would be updated: {why}")
                            }
                            outcome => outcome.to_string(),
                        },
                    }
                })
                .collect(),
        })
        .collect();
    let imported = report.added() + report.updated() > 0;
    ImportView {
        dry_run,
        added: report.added(),
        updated: report.updated(),
        skipped: report.skipped(),
        files,
        warning: imported.then_some(SHARED_GRANT),
    }
}

fn skip_uuid(reason: &mac_core::import::SkipReason) -> Option<String> {
    use mac_core::import::SkipReason;
    match reason {
        SkipReason::AlreadyInPool { uuid } | SkipReason::PoolHasNewer { uuid, .. } => {
            Some(uuid.clone())
        }
        _ => None,
    }
}

fn print_human(ctx: &Context, view: &ImportView) {
    let would = if view.dry_run { "would be " } else { "" };
    for file in &view.files {
        if file.status == "not found" {
            if ctx.printer.verbosity() > 0 {
                ctx.printer.note(&format!("{}: not found ({})", file.kind, file.path));
            }
            continue;
        }
        ctx.printer.out(&format!("{} ({}): {}", file.kind, file.path, file.status));
        if let Some(problem) = &file.problem {
            ctx.printer.out(&format!("  {problem}"));
        }
        for account in &file.accounts {
            let name = account.name.as_deref().unwrap_or("unnamed");
            ctx.printer.out(&format!(
                "  {} {name} [{}]: {}",
                account.provider, account.entry, account.detail
            ));
        }
    }
    let prefix = if view.dry_run { "dry run, nothing changed: " } else { "" };
    ctx.printer.out(&format!(
        "{prefix}{} {would}added, {} {would}updated, {} skipped",
        view.added, view.updated, view.skipped
    ));
    if view.files.iter().all(|f| f.status == "not found") {
        ctx.printer.note("found no logins to import");
        ctx.printer.note(&format!(
            "hint: {}",
            Hint::Run(vec![
                crate::hint::HintCommand::Login(Provider::Anthropic),
                crate::hint::HintCommand::Login(Provider::Codex),
            ])
        ));
    }
    if let Some(warning) = view.warning {
        ctx.printer.note("");
        ctx.printer.note(&format!("note: {warning}"));
    }
}
