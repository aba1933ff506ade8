//! `mac storage migrate --to postgres`: moves this data directory's pools into the PostgreSQL
//! database of `--url` (else `[storage] url` / `MAC_STORAGE_URL`) with
//! `mac_core::storage_migrate` (which holds the merge rules and the backup), prints what
//! happened per account, and says the next step (or, with `--write-config`, takes it). The
//! URL's password is never printed: the database is named by `mac_postgres::Target`.

use mac_core::MacConfig;
use mac_core::config::StorageBackend;
use mac_core::postgres::{self, PostgresOptions, SchemaState};
use mac_core::storage_migrate::{
    AccountOutcome, MigrationReport, PoolOutcome, config_for_postgres, migrate_files,
};
use mac_core::{AccountsStorage, SetupError};
use mac_storage::{Provider, Secret};
use mac_ui::Color;
use serde::Serialize;

use crate::args::{MigrateArgs, MigrateTo, StorageCommand};
use crate::context::Context;
use crate::error::CliError;
use crate::hint::{Hint, HintCommand};

/// Runs `mac storage …`.
pub(crate) fn run(ctx: &Context, command: &StorageCommand) -> Result<(), CliError> {
    match command {
        StorageCommand::Migrate(args) => match args.to {
            MigrateTo::Postgres => migrate(ctx, args),
        },
    }
}

/// The JSON document of `mac storage migrate`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MigrateView<'a> {
    /// The database, without the password.
    target: String,
    #[serde(flatten)]
    report: &'a MigrationReport,
    /// Whether `config.toml` now selects the database (written by `--write-config`, or
    /// already so).
    config_selects_database: bool,
    /// What to do next, if anything.
    next: Option<String>,
}

fn migrate(ctx: &Context, args: &MigrateArgs) -> Result<(), CliError> {
    let mut config = ctx.config()?;
    let already_selected = config.storage.backend == StorageBackend::Postgres;
    let url = match (&args.url, &config.storage.url) {
        (Some(url), _) => Secret::new(url.clone()),
        (None, Some(url)) => url.clone(),
        (None, None) => {
            return Err(CliError::Usage {
                message: "no PostgreSQL database named: give --url, or set [storage] url in \
                          config.toml (or MAC_STORAGE_URL)"
                    .to_owned(),
                flag: "--url",
            });
        }
    };
    let same_url = config.storage.url.as_ref().is_some_and(|set| set.expose() == url.expose());
    config.storage.backend = StorageBackend::Postgres;
    config.storage.url = Some(url.clone());

    // A dry run changes nothing, not even the schema: it reads what exists and takes a
    // database without mac's schema as empty.
    let inspection = postgres::inspect(&url, &PostgresOptions::default())
        .map_err(|source| SetupError::Postgres { source })?;
    let target = inspection.target.to_string();
    let storage = match inspection.schema {
        SchemaState::Missing if args.dry_run => None,
        // Its tables may mean something else until migrated, and migrating is a change.
        SchemaState::Older { found } if args.dry_run => {
            return Err(CliError::Reported {
                what: format!(
                    "the mac schema at {target} has version {found}, older than this build's; a \
                     dry run cannot read it without migrating it (which any mac start, or the \
                     migration without --dry-run, does)"
                ),
                hint: Some(Hint::run(HintCommand::Doctor)),
            });
        }
        _ => Some(AccountsStorage::open(&config, &ctx.data_dir)?),
    };
    let options = config.store_options();
    let open = |provider: Provider| storage.as_ref().map(|s| s.store(provider, options.clone()));
    let report = migrate_files(&ctx.data_dir, &options, &open, args.dry_run);

    let refused = report.refused().count();
    let mut config_selects_database = already_selected && same_url;
    if args.write_config && refused == 0 && !config_selects_database {
        write_config(ctx, args.url.as_ref().map(|_| &url))?;
        config_selects_database = true;
    }
    let next = next_step(&report, config_selects_database, args);
    if args.json {
        ctx.printer.json(&MigrateView {
            target: target.clone(),
            report: &report,
            config_selects_database,
            next: next.clone(),
        });
    } else {
        print_human(ctx, &target, &report, next.as_deref());
    }
    if refused > 0 {
        return Err(CliError::Reported {
            what: format!("{refused} pool(s) not migrated"),
            hint: Some(Hint::run(HintCommand::MigrateToPostgres)),
        });
    }
    Ok(())
}

/// Sets the backend (and `url`, when it came from `--url`) in `config.toml`, written `0600`.
fn write_config(ctx: &Context, url: Option<&Secret>) -> Result<(), CliError> {
    let path = ctx.data_dir.config_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(CliError::WriteFile { path, source }),
    };
    let edited = config_for_postgres(&text, url).map_err(|refused| CliError::Reported {
        what: format!("config.toml was not changed: {}", refused.reason),
        hint: Some(Hint::File(path.clone())),
    })?;
    if let Some(edited) = edited {
        mac_storage::file::write_private_atomic(&path, edited.as_bytes()).map_err(|err| {
            CliError::WriteFile { path: path.clone(), source: std::io::Error::other(err) }
        })?;
    }
    // The edited file must load as this command's own configuration does.
    MacConfig::load_from(&ctx.data_dir, mac_core::config::process_env)
        .map_err(|errors| CliError::Config { errors, path })?;
    Ok(())
}

fn next_step(report: &MigrationReport, selected: bool, args: &MigrateArgs) -> Option<String> {
    if report.refused().next().is_some() {
        return Some(
            "resolve the conflicts above and run `mac storage migrate --to postgres` again"
                .to_owned(),
        );
    }
    if args.dry_run {
        return Some("run again without --dry-run to copy".to_owned());
    }
    if selected {
        return None;
    }
    Some(
        "point every mac at the database: set [storage] backend = \"postgres\" and url = \
         \"postgres://USER:PASSWORD@HOST:PORT/DATABASE\" in config.toml (or MAC_STORAGE_BACKEND \
         and MAC_STORAGE_URL), or run again with --write-config; until then this host's mac \
         finds no accounts files"
            .to_owned(),
    )
}

fn print_human(ctx: &Context, target: &str, report: &MigrationReport, next: Option<&str>) {
    let style = ctx.printer.style();
    let verb = if report.dry_run { "dry run: would migrate" } else { "migrating" };
    ctx.printer
        .out(&format!("{verb} the pools of {} into {target}", ctx.data_dir.path().display()));
    for pool in &report.pools {
        let heading = match &pool.outcome {
            PoolOutcome::NoFile if pool.earlier_backups.is_empty() => {
                format!("{}: no accounts file; nothing to migrate", pool.provider)
            }
            PoolOutcome::NoFile => format!(
                "{}: nothing to migrate (migrated before; backup {})",
                pool.provider,
                pool.earlier_backups.last().map_or("", String::as_str)
            ),
            PoolOutcome::Migrated { .. } => {
                format!("{}: {} account(s) in {}", pool.provider, pool.accounts.len(), pool.file)
            }
            PoolOutcome::Refused { problem } => {
                style.paint(Color::Red, &format!("{}: not migrated: {problem}", pool.provider))
            }
        };
        ctx.printer.out(&heading);
        for account in &pool.accounts {
            let what = match &account.outcome {
                AccountOutcome::Added => "copied".to_owned(),
                AccountOutcome::AlreadyThere => "already in the database".to_owned(),
                AccountOutcome::TokensFromFile => {
                    "the file's newer tokens replaced the database's".to_owned()
                }
                AccountOutcome::TargetNewer => {
                    "the database's tokens are newer (rotated since); kept".to_owned()
                }
                AccountOutcome::Conflict { reason } => style.paint(Color::Red, reason),
            };
            let merged = account
                .target_uuid
                .as_ref()
                .map(|uuid| format!(" (as {})", uuid.get(..8).unwrap_or(uuid)))
                .unwrap_or_default();
            ctx.printer.out(&format!("  {}{merged}: {what}", account.name));
        }
        if let Some(backup) = &pool.backup {
            ctx.printer.out(&format!("  the file is now the read-only backup {backup}"));
        }
        if pool.pending_grants > 0 {
            ctx.printer.out(&format!(
                "  {} pending-grant journal(s) stay in the data directory; this host's next \
                 refresh of their account applies them",
                pool.pending_grants
            ));
        }
        if let Some(problem) = &pool.problem {
            ctx.printer.out(&style.paint(Color::Yellow, &format!("  {problem}")));
        }
    }
    let summary = match (report.dry_run, report.changed_target(), report.migrated_any()) {
        (true, true, _) => "the database would change",
        (true, false, _) => "nothing would change in the database",
        (false, true, _) => "the database now holds the pools",
        (false, false, true) => "nothing changed in the database: it held every account already",
        (false, false, false) => "nothing changed",
    };
    ctx.printer.out(summary);
    if let Some(next) = next {
        ctx.printer.out(&format!("next: {next}"));
    }
}
