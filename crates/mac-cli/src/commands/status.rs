//! `mac status`: every account's state, usage windows with reset countdowns, plan, token
//! expiry and holding process; `--refresh` fetches usage first, `--watch` redraws until
//! interrupted; the first line names the storage backend the accounts are read from (the
//! data directory's files, or the PostgreSQL server, database and schema). Reads only
//! (`--refresh` writes the fetched usage, and renews an expired token the way a request
//! would): a missing data directory stays missing.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use mac_claims::ClaimsSnapshot;
use mac_core::MacConfig;
use mac_core::executor::RefreshService;
use mac_core::status::{StatusView, pool_status};
use mac_storage::{EpochMs, Provider, StoredAccount, SystemClock};
use mac_ui::{Color, Table, wait_time};

use crate::args::StatusArgs;
use crate::context::{Context, runtime};
use crate::error::CliError;
use crate::hint::{Hint, HintCommand};
use crate::views::{badge, token_human, window_human};

/// Runs `mac status`.
pub(crate) fn run(ctx: &Context, args: &StatusArgs) -> Result<(), CliError> {
    let config = ctx.config()?;
    let provider = args.provider.map(Provider::from);
    if args.refresh {
        refresh_usage(ctx, &config, provider)?;
    }
    if args.watch {
        return watch(ctx, &config, provider, Duration::from_secs(args.interval));
    }
    let view = collect(ctx, &config, provider);
    if args.json {
        ctx.printer.json(&view);
    } else {
        for line in render(ctx, &view, EpochMs::now()) {
            ctx.printer.out(&line);
        }
    }
    // A storage that could not be opened names no file: the pool is named instead.
    let broken: Vec<String> = view
        .pools
        .iter()
        .filter(|p| p.error.is_some())
        .map(|p| {
            if p.file.is_empty() { format!("the {} accounts", p.provider) } else { p.file.clone() }
        })
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(CliError::Reported {
            what: format!("cannot read {}", broken.join(", ")),
            hint: Some(Hint::run(HintCommand::Doctor)),
        })
    }
}

/// The live claims of `provider`'s pool on the configured storage (the claims file, or the
/// database's claims table); unreadable claims show as no holder (claims are soft state).
pub(crate) fn claims_of(ctx: &Context, config: &MacConfig, provider: Provider) -> ClaimsSnapshot {
    match ctx.storage(config) {
        Ok(storage) => storage.claims(&ctx.data_dir, provider),
        Err(_) => ClaimsSnapshot::default(),
    }
}

fn collect(ctx: &Context, config: &MacConfig, provider: Option<Provider>) -> StatusView {
    pool_status(&ctx.data_dir, config, provider, EpochMs::now())
}

fn render(ctx: &Context, view: &StatusView, now: EpochMs) -> Vec<String> {
    let style = ctx.printer.style();
    // Which storage the pools below come from (never the URL's password).
    let mut lines = vec![format!("storage: {}", view.storage)];
    for pool in &view.pools {
        if !lines.is_empty() {
            lines.push(String::new());
        }
        let heading = match (&pool.error, pool.accounts.len()) {
            (Some(error), _) => format!("{}: error: {error}", pool.provider),
            (None, 0) => format!("{}: no accounts", pool.provider),
            (None, n) => format!("{}: {n} account(s)", pool.provider),
        };
        lines.push(style.paint(Color::Bold, &heading));
        if pool.accounts.is_empty() {
            continue;
        }
        let mut table =
            Table::new(&["#", "NAME", "STATE", "5H", "7D", "PLAN", "TOKEN", "HELD BY", "WHY"]);
        for a in &pool.accounts {
            let marker = if a.active { "*" } else { "" };
            let window = |w: &Option<mac_core::status::WindowView>| {
                w.as_ref().map_or_else(|| "-".to_owned(), |w| window_human(w, now))
            };
            let why = match (a.blocked_until, &a.reason) {
                (Some(until), Some(reason)) if until > now => {
                    format!("{reason}; {} left", wait_time(until.duration_since(now)))
                }
                (_, reason) => reason.clone().unwrap_or_default(),
            };
            table.row(vec![
                (a.index.to_string(), None),
                (format!("{}{marker}", a.name), None),
                (a.state.as_str().to_owned(), Some(badge(a.state).color())),
                (window(&a.five_hour), None),
                (window(&a.seven_day), None),
                (if a.plan.is_empty() { "-".to_owned() } else { a.plan.clone() }, None),
                (token_human(a, now), None),
                (a.held_by_pid.map_or_else(|| "-".to_owned(), |pid| format!("pid {pid}")), None),
                (why, None),
            ]);
        }
        lines.extend(table.render(style));
    }
    lines
}

fn watch(
    ctx: &Context,
    config: &MacConfig,
    provider: Option<Provider>,
    interval: Duration,
) -> Result<(), CliError> {
    let rt = runtime()?;
    let terminal = std::io::stdout().is_terminal();
    loop {
        let view = collect(ctx, config, provider);
        let mut text = String::new();
        if terminal {
            // Home and clear: the table is redrawn in place.
            text.push_str("\x1b[H\x1b[2J");
        }
        for line in render(ctx, &view, EpochMs::now()) {
            text.push_str(&line);
            text.push('\n');
        }
        if !terminal {
            text.push_str("---\n");
        }
        ctx.printer.out_raw(&text);
        let interrupted = rt.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(interval) => false,
                _ = tokio::signal::ctrl_c() => true,
            }
        });
        if interrupted {
            return Ok(());
        }
    }
}

/// Fetches and records the usage of `provider`'s accounts (the menu's "Check quotas").
pub(crate) fn refresh_only(
    ctx: &Context,
    config: &MacConfig,
    provider: Provider,
) -> Result<(), CliError> {
    refresh_usage(ctx, config, Some(provider))
}

/// Fetches the usage of every enabled account and records it. An account whose access token
/// has expired is renewed first through the pool's own refresh path (`RefreshService`: one
/// refresh across processes, the rotated refresh token stored before it is used), so a pool
/// that sat idle overnight still shows its usage.
fn refresh_usage(
    ctx: &Context,
    config: &MacConfig,
    provider: Option<Provider>,
) -> Result<(), CliError> {
    let rt = runtime()?;
    let now = EpochMs::now();
    for pool in Provider::ALL.into_iter().filter(|p| provider.is_none_or(|want| want == *p)) {
        let store = ctx.reader(pool, config)?;
        let document = store.load()?;
        let usable: Vec<&StoredAccount> = document
            .accounts
            .iter()
            .filter(|a| a.enabled && !a.is_auth_disabled && a.uuid.is_some())
            .collect();
        if usable.is_empty() {
            continue;
        }
        let client = crate::context::client(pool, config)?;
        // The pool's own locks: on PostgreSQL one refresh per account across every host.
        let refresh = RefreshService::with_account_locks(
            Arc::new(ctx.writer(pool, config)?),
            client.clone(),
            config.pool_config(pool).refresh,
            Arc::new(SystemClock),
            ctx.local_files(pool),
            ctx.account_locks(pool, config)?,
        );
        let spinner = ctx.printer.spinner(&format!("fetching {pool} usage…"));
        let mut fetched = Vec::new();
        for account in usable {
            let name = account.display_name();
            let live = account
                .access_token
                .clone()
                .filter(|_| account.expires_at.is_some_and(|at| at > now));
            let access = match (live, account.uuid.as_deref()) {
                (Some(access), _) => Ok(access),
                (None, Some(uuid)) => {
                    rt.block_on(refresh.fresh_credentials(uuid))
                        .map_err(|err| format!("the token could not be renewed: {err}"))
                        .and_then(|renewed| {
                            renewed.credentials.access_token.ok_or_else(|| {
                                "the renewed grant carries no access token".to_owned()
                            })
                        })
                }
                (None, None) => Err("the account has no id".to_owned()),
            };
            let result = access.and_then(|access| {
                rt.block_on(client.fetch_usage(&access, account.account_id.as_deref()))
                    .map_err(|err| err.to_string())
            });
            fetched.push((name, account.uuid.clone(), result));
        }
        // A refresh's bookkeeping is written behind it: wait for it before reading the file.
        rt.block_on(refresh.settle());
        spinner.stop();
        for (name, uuid, result) in fetched {
            match (uuid, result) {
                (Some(uuid), Ok(report)) => {
                    store.record_usage(&uuid, report.limits, EpochMs::now())?;
                }
                (_, Err(problem)) => {
                    ctx.printer.note(&format!("{pool} {name}: usage not refreshed: {problem}"));
                }
                (None, Ok(_)) => {}
            }
        }
    }
    Ok(())
}
