//! `mac doctor`: checks what goes wrong on real machines and says how to fix each — the data
//! directory and file modes, that every accounts file parses and is not of a newer version,
//! stale temporary and backup files, the configuration, claims left by dead processes,
//! accounts that need a login and tokens that expired, with `[storage] backend = "postgres"`
//! the database (connection, schema version, each provider's accounts; no other network),
//! and with `--online` that every provider endpoint answers. Reads only — it never creates or
//! migrates the database's schema; exit 1 when a check fails.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use mac_core::config::{StorageBackend, process_env};
use mac_core::postgres::{self, PostgresError, PostgresOptions, SCHEMA_VERSION, SchemaState};
use mac_core::{AccountsStorage, MacConfig};
use mac_storage::{AccountStore, EpochMs, Provider};
use serde::Serialize;

use crate::args::DoctorArgs;
use crate::context::{Context, runtime};
use crate::error::CliError;
use crate::hint::{Hint, HintCommand};
use mac_core::status::AccountState;

use crate::views::state_of;
use mac_ui::Color;

/// A temporary file older than this was left by an interrupted write (a write takes
/// milliseconds).
const STALE_TMP: Duration = Duration::from_secs(60);
/// How long `--online` waits for each endpoint.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a check went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
enum Level {
    Ok,
    Note,
    Warn,
    Fail,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    /// What was checked (`data directory`, `anthropic accounts`, …).
    check: String,
    level: Level,
    message: String,
    /// How to fix it, when there is something to do.
    fix: Option<String>,
}

/// The JSON document of `mac doctor`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DoctorView {
    data_dir: String,
    failed: usize,
    warnings: usize,
    findings: Vec<Finding>,
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, check: &str, level: Level, message: impl Into<String>, fix: Option<Hint>) {
        self.0.push(Finding {
            check: check.to_owned(),
            level,
            message: message.into(),
            fix: fix.map(|hint| hint.to_string()),
        });
    }
}

/// Runs `mac doctor`.
pub(crate) fn run(ctx: &Context, args: &DoctorArgs) -> Result<(), CliError> {
    let mut findings = Findings(Vec::new());
    let dir_ok = check_data_dir(ctx, &mut findings);
    let config = check_config(ctx, &mut findings);
    let on_postgres =
        config.as_ref().is_some_and(|c| c.storage.backend == StorageBackend::Postgres);
    if dir_ok {
        let config_for_files = config.clone().unwrap_or_default();
        for provider in Provider::ALL {
            if on_postgres {
                check_unused_file(ctx, provider, &mut findings);
            } else {
                check_pool(ctx, &config_for_files, provider, &mut findings);
            }
            check_claims(ctx, provider, &mut findings);
        }
        check_leftovers(ctx.data_dir.path(), &mut findings);
    }
    if let Some(config) = config.as_ref().filter(|_| on_postgres) {
        check_postgres(ctx, config, &mut findings);
    }
    if args.online {
        match &config {
            Some(config) => check_online(ctx, config, &mut findings)?,
            // The endpoints are whatever the broken file was meant to name; the built-in (real)
            // URLs may be exactly what the user moved away from, so nothing is contacted.
            None => findings.add(
                "provider endpoints",
                Level::Fail,
                "not checked: config.toml is invalid, so the endpoints it names are unknown",
                Some(Hint::File(ctx.data_dir.config_file())),
            ),
        }
    }
    let failed = findings.0.iter().filter(|f| f.level == Level::Fail).count();
    let warnings = findings.0.iter().filter(|f| f.level == Level::Warn).count();
    let view = DoctorView {
        data_dir: ctx.data_dir.path().display().to_string(),
        failed,
        warnings,
        findings: findings.0,
    };
    if args.json {
        ctx.printer.json(&view);
    } else {
        print_human(ctx, &view);
    }
    if failed > 0 {
        return Err(CliError::Reported { what: format!("{failed} check(s) failed"), hint: None });
    }
    Ok(())
}

fn print_human(ctx: &Context, view: &DoctorView) {
    let style = ctx.printer.style();
    ctx.printer.out(&format!("data directory: {}", view.data_dir));
    for f in &view.findings {
        let (word, color) = match f.level {
            Level::Ok => ("ok  ", Color::Green),
            Level::Note => ("note", Color::Cyan),
            Level::Warn => ("warn", Color::Yellow),
            Level::Fail => ("FAIL", Color::Red),
        };
        ctx.printer.out(&format!("{} {}: {}", style.paint(color, word), f.check, f.message));
        if let Some(fix) = &f.fix {
            ctx.printer.out(&format!("     fix: {fix}"));
        }
    }
    let summary = match (view.failed, view.warnings) {
        (0, 0) => "everything looks healthy".to_owned(),
        (failed, warnings) => format!("{failed} failed, {warnings} warning(s)"),
    };
    ctx.printer.out(&summary);
}

fn mode_of(path: &Path) -> Option<u32> {
    fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
}

/// Whether the directory exists and can be read.
fn check_data_dir(ctx: &Context, findings: &mut Findings) -> bool {
    let dir = ctx.data_dir.path();
    let check = "data directory";
    match fs::metadata(dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            findings.add(
                check,
                Level::Warn,
                format!("{} does not exist yet", dir.display()),
                Some(Hint::Run(crate::hint::first_steps())),
            );
            return false;
        }
        Err(err) => {
            findings.add(
                check,
                Level::Fail,
                format!("cannot read {}: {err}", dir.display()),
                Some(Hint::Flag("--home")),
            );
            return false;
        }
        Ok(meta) if !meta.is_dir() => {
            findings.add(
                check,
                Level::Fail,
                format!("{} is not a directory", dir.display()),
                Some(Hint::Flag("--home")),
            );
            return false;
        }
        Ok(_) => {}
    }
    if let Err(err) = fs::read_dir(dir) {
        findings.add(
            check,
            Level::Fail,
            format!("cannot list {}: {err}", dir.display()),
            Some(Hint::Shell(format!("chmod 700 {}", dir.display()))),
        );
        return false;
    }
    match mode_of(dir) {
        Some(mode) if mode & 0o077 != 0 => findings.add(
            check,
            Level::Warn,
            format!(
                "{} is open to other users (mode {mode:o}); it holds login tokens",
                dir.display()
            ),
            Some(Hint::Shell(format!("chmod 700 {}", dir.display()))),
        ),
        _ => findings.add(check, Level::Ok, format!("{} (private)", dir.display()), None),
    }
    true
}

fn check_config(ctx: &Context, findings: &mut Findings) -> Option<MacConfig> {
    let path = ctx.data_dir.config_file();
    match MacConfig::check(&path, process_env) {
        Ok(checked) => {
            findings.add("config", Level::Ok, "valid", None);
            Some(checked.config)
        }
        Err(errors) => {
            for error in &errors {
                findings.add(
                    "config",
                    Level::Fail,
                    error.to_string(),
                    Some(Hint::File(path.clone())),
                );
            }
            None
        }
    }
}

fn check_pool(ctx: &Context, config: &MacConfig, provider: Provider, findings: &mut Findings) {
    let check = format!("{provider} accounts");
    // Only called for the file backend: the accounts file itself, opened for reading.
    let path = ctx.data_dir.accounts_file(provider);
    let store = AccountStore::at_path(&path, config.store_options());
    if !path.exists() {
        findings.add(
            &check,
            Level::Note,
            "no accounts file (no accounts yet)",
            Some(Hint::run(HintCommand::Login(provider))),
        );
        return;
    }
    if let Some(mode) = mode_of(&path)
        && mode & 0o077 != 0
    {
        findings.add(
            &check,
            Level::Warn,
            format!(
                "{} is readable by other users (mode {mode:o}); it holds tokens",
                path.display()
            ),
            Some(Hint::Shell(format!("chmod 600 {}", path.display()))),
        );
    }
    let hint = Hint::File(path.clone());
    check_document(&check, &store, findings, hint);
}

/// Reads `store`'s document and checks its version and accounts; `fix` is the hint of a
/// document that cannot be read.
fn check_document(check: &str, store: &AccountStore, findings: &mut Findings, fix: Hint) {
    let location = store.path().display().to_string();
    let document = match store.load() {
        Ok(document) => document,
        Err(err) => {
            findings.add(check, Level::Fail, err.to_string(), Some(fix));
            return;
        }
    };
    if document.version > mac_storage::SUPPORTED_VERSION {
        findings.add(
            check,
            Level::Warn,
            format!(
                "written by a newer mac (version {}): readable, but this mac cannot change it",
                document.version
            ),
            Some(fix),
        );
    }
    let healthy = check_accounts(check, &document.accounts, findings);
    findings.add(
        check,
        Level::Ok,
        format!("{location} parses; {healthy} of {} account(s) usable", document.accounts.len()),
        None,
    );
}

/// With the accounts in PostgreSQL, an accounts file is not used: said, with the command that
/// merges it in.
fn check_unused_file(ctx: &Context, provider: Provider, findings: &mut Findings) {
    let path = ctx.data_dir.accounts_file(provider);
    if path.exists() {
        findings.add(
            &format!("{provider} accounts"),
            Level::Warn,
            format!(
                "{} is not used: the accounts are in PostgreSQL ([storage] backend); its \
                 accounts are not in the pool unless migrated",
                path.display()
            ),
            Some(Hint::run(HintCommand::MigrateToPostgres)),
        );
    }
}

/// The database of `[storage] url`: reachable, its schema's version, and each provider's
/// accounts — without creating or migrating anything (the schema is only read while it is
/// this build's version).
fn check_postgres(ctx: &Context, config: &MacConfig, findings: &mut Findings) {
    let check = "postgres";
    let Some(url) = config.storage.url.as_ref() else {
        findings.add(
            check,
            Level::Fail,
            "[storage] backend = \"postgres\" names no database",
            Some(Hint::ConfigKey("[storage] url".into())),
        );
        return;
    };
    let inspection = match postgres::inspect(url, &PostgresOptions::default()) {
        Ok(inspection) => inspection,
        Err(err @ PostgresError::Url { .. }) => {
            findings.add(
                check,
                Level::Fail,
                err.to_string(),
                Some(Hint::ConfigKey("[storage] url".into())),
            );
            return;
        }
        Err(err) => {
            findings.add(
                check,
                Level::Fail,
                format!("{err}; is the server running, and does [storage] url name it?"),
                Some(Hint::ConfigKey("[storage] url".into())),
            );
            return;
        }
    };
    let target = &inspection.target;
    let ours = SCHEMA_VERSION;
    match inspection.schema {
        SchemaState::Missing => {
            findings.add(
                check,
                Level::Note,
                format!(
                    "connected to {target}: no mac schema yet; the first mac to start creates it"
                ),
                Some(Hint::run(HintCommand::MigrateToPostgres)),
            );
            return;
        }
        SchemaState::Older { found } => {
            findings.add(
                check,
                Level::Note,
                format!(
                    "connected to {target}: schema version {found}, older than this mac's \
                     {ours}; the next mac to start migrates it"
                ),
                None,
            );
            return;
        }
        SchemaState::Newer { found } => {
            findings.add(
                check,
                Level::Fail,
                format!(
                    "connected to {target}: schema version {found} is newer than this mac's \
                     {ours}; this mac refuses to use it — upgrade mac on this host"
                ),
                Some(Hint::Shell("cargo install --path crates/mac-cli".into())),
            );
            return;
        }
        SchemaState::Current => findings.add(
            check,
            Level::Ok,
            format!("connected to {target}: schema version {ours}"),
            None,
        ),
    }
    let storage = match AccountsStorage::open(config, &ctx.data_dir) {
        Ok(storage) => storage,
        Err(err) => {
            findings.add(check, Level::Fail, err.to_string(), Some(Hint::run(HintCommand::Doctor)));
            return;
        }
    };
    for provider in Provider::ALL {
        let store = storage.store(provider, config.store_options());
        let fix = Hint::ConfigKey("[storage] url".into());
        check_document(&format!("{provider} accounts"), &store, findings, fix);
    }
}

/// Accounts that need a login fail; expired or expiring access tokens are noted. Returns how
/// many accounts are usable.
fn check_accounts(
    check: &str,
    accounts: &[mac_storage::StoredAccount],
    findings: &mut Findings,
) -> usize {
    let now = EpochMs::now();
    let mut healthy = 0;
    for account in accounts {
        let name = account.display_name();
        let id = account.uuid.clone().unwrap_or_default();
        let (badge, reason, _) = state_of(account, now);
        if badge == AccountState::NeedsLogin {
            findings.add(
                check,
                Level::Fail,
                format!("{name} needs a new login ({})", reason.unwrap_or_default()),
                Some(Hint::run(HintCommand::Relogin(id.get(..8).unwrap_or(&id).to_owned()))),
            );
            continue;
        }
        if badge == AccountState::Disabled {
            findings.add(
                check,
                Level::Note,
                format!("{name} is switched off"),
                Some(Hint::run(HintCommand::Enable(id.get(..8).unwrap_or(&id).to_owned()))),
            );
            continue;
        }
        match account.expires_at {
            Some(at) if at <= now => findings.add(
                check,
                Level::Note,
                format!(
                    "{name}: access token expired {} ago; it is refreshed on the next request",
                    mac_ui::wait_time(now.duration_since(at))
                ),
                None,
            ),
            Some(at) if at.duration_since(now) < Duration::from_secs(300) => findings.add(
                check,
                Level::Note,
                format!(
                    "{name}: access token expires in {}; it is refreshed before use",
                    mac_ui::wait_time(at.duration_since(now))
                ),
                None,
            ),
            None => findings.add(
                check,
                Level::Note,
                format!("{name}: no access token yet; one is fetched on the next request"),
                None,
            ),
            Some(_) => {}
        }
        healthy += 1;
    }
    healthy
}

fn check_claims(ctx: &Context, provider: Provider, findings: &mut Findings) {
    let path = ctx.data_dir.claims_file(provider);
    let Ok(bytes) = fs::read(&path) else { return };
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&bytes)
    else {
        findings.add(
            &format!("{provider} claims"),
            Level::Warn,
            format!(
                "{} is not valid; it is replaced by the next process that claims an account",
                path.display()
            ),
            None,
        );
        return;
    };
    let recorded = map.len();
    // The claims file's own entries against its live ones (a file check, whatever the backend).
    let live = mac_core::status::claims_of(&ctx.data_dir, provider).len();
    let dead = recorded.saturating_sub(live);
    if dead > 0 {
        findings.add(
            &format!("{provider} claims"),
            Level::Warn,
            format!("{dead} claim(s) of processes that are gone or silent; they block nothing and are pruned by the next process that claims"),
            Some(Hint::run(HintCommand::Status)),
        );
    }
}

fn check_leftovers(dir: &Path, findings: &mut Findings) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let now = SystemTime::now();
    let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    names.sort();
    for path in names {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let age = fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok());
        if name.ends_with(".tmp") && age.is_some_and(|age| age > STALE_TMP) {
            findings.add(
                "leftovers",
                Level::Warn,
                format!(
                    "{} was left by an interrupted write; the real file is intact",
                    path.display()
                ),
                Some(Hint::Shell(format!("rm {}", path.display()))),
            );
        } else if name.contains(".migrated.") && name.ends_with(".bak") {
            findings.add(
                "leftovers",
                Level::Note,
                format!(
                    "{} is the read-only copy of a pool migrated to PostgreSQL; delete it once \
                     you no longer need the way back",
                    path.display()
                ),
                None,
            );
        } else if name.contains(".corrupt.") && name.ends_with(".bak") {
            findings.add(
                "leftovers",
                Level::Note,
                format!(
                    "{} is a copy of a broken accounts file; delete it once you no longer need it",
                    path.display()
                ),
                Some(Hint::Shell(format!("rm {}", path.display()))),
            );
        }
    }
}

fn check_online(
    ctx: &Context,
    config: &MacConfig,
    findings: &mut Findings,
) -> Result<(), CliError> {
    let rt = runtime()?;
    let client = reqwest::Client::builder()
        .timeout(ONLINE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|err| CliError::Reported {
            what: format!("cannot build an HTTP client: {err}"),
            hint: None,
        })?;
    let spinner = ctx.printer.spinner("checking the provider endpoints…");
    let mut results = Vec::new();
    for provider in Provider::ALL {
        let descriptor = crate::context::descriptor(provider, config)?;
        let e = &descriptor.endpoints;
        for (key, url) in [
            ("token_url", &e.token_url),
            ("usage_url", &e.usage_url),
            ("authorize_url", &e.authorize_url),
        ] {
            let answer = rt.block_on(async { client.get(url.clone()).send().await });
            results.push((provider, key, url.to_string(), answer.map(|r| r.status().as_u16())));
        }
    }
    spinner.stop();
    for (provider, key, url, answer) in results {
        let check = format!("{provider} endpoints");
        match answer {
            Ok(status) => findings.add(
                &check,
                Level::Ok,
                format!("{key} {url} answers (HTTP {status})"),
                None,
            ),
            Err(err) => findings.add(
                &check,
                Level::Fail,
                format!("{key} {url} does not answer: {}", error_chain(&err)),
                Some(Hint::ConfigKey(format!("[providers.{provider}] {key}"))),
            ),
        }
    }
    Ok(())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}
