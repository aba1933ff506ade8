//! `mac accounts …`: list, add from tokens, remove, enable, disable, rename, relogin. Every
//! change is one typed store mutation; an id that names nothing (or several accounts) changes
//! nothing and exits 2.

use std::io::{IsTerminal, Read};

use mac_adapters::jwt;
use mac_core::MacConfig;
use mac_storage::{AddOutcome, Credentials, EpochMs, NewAccount, Provider, Secret};
use mac_ui::{InquirePrompter, Prompter, Table};
use serde::Serialize;
use snafu::ResultExt;

use crate::args::{AccountTarget, AccountsCommand, AddArgs};
use crate::commands::login::{checked_label, relogin};
use crate::commands::status::claims_of;
use crate::context::Context;
use crate::error::{CliError, StdinSnafu};
use crate::hint::{Hint, first_steps};
use crate::target::{Entry, listing, resolve};
use mac_core::status::AccountView;

use crate::views::badge;

/// The JSON document of `mac accounts list`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountsView {
    accounts: Vec<AccountView>,
}

/// Runs `mac accounts …`.
pub(crate) fn run(ctx: &Context, command: AccountsCommand) -> Result<(), CliError> {
    let config = ctx.config()?;
    match command {
        AccountsCommand::List { provider, json } => {
            list(ctx, &config, provider.map(Into::into), json)
        }
        AccountsCommand::Add(args) => add(ctx, &config, &args),
        AccountsCommand::Remove { target, yes } => {
            let entries = listing(ctx, &config, target.provider.map(Into::into))?;
            let entry = pick(&entries, &target)?;
            if !yes && !confirm_remove(entry)? {
                ctx.printer.note("nothing removed");
                return Ok(());
            }
            let store = ctx.writer(entry.provider, &config)?;
            store.remove_account(entry.uuid())?;
            ctx.printer.out(&format!("removed {}", entry.describe()));
            Ok(())
        }
        AccountsCommand::Enable { target } => set_enabled(ctx, &config, &target, true),
        AccountsCommand::Disable { target } => set_enabled(ctx, &config, &target, false),
        AccountsCommand::Rename { target, label } => {
            let label = checked_label(&label)?;
            let entries = listing(ctx, &config, target.provider.map(Into::into))?;
            let entry = pick(&entries, &target)?;
            let store = ctx.writer(entry.provider, &config)?;
            let uuid = entry.uuid().to_owned();
            store.mutate(|document| {
                store.account_mut(document, &uuid)?.label = Some(label.clone());
                Ok(())
            })?;
            ctx.printer.out(&format!("renamed {} to {label}", entry.describe()));
            Ok(())
        }
        AccountsCommand::Relogin { target, flow } => {
            let entries = listing(ctx, &config, target.provider.map(Into::into))?;
            let entry = pick(&entries, &target)?;
            relogin(ctx, &config, entry, flow)
        }
    }
}

/// The entry `target` names; accounts without a uuid (from very old files) cannot be changed.
fn pick<'e>(entries: &'e [Entry], target: &AccountTarget) -> Result<&'e Entry, CliError> {
    let entry = resolve(entries, &target.id, target.provider.map(Into::into))?;
    if entry.uuid().is_empty() {
        return Err(CliError::UnknownAccount {
            id: target.id.clone(),
            provider: Some(entry.provider),
        });
    }
    Ok(entry)
}

fn list(
    ctx: &Context,
    config: &MacConfig,
    provider: Option<Provider>,
    json: bool,
) -> Result<(), CliError> {
    let entries = listing(ctx, config, provider)?;
    let now = EpochMs::now();
    let mut claims = Vec::new();
    for pool in Provider::ALL {
        claims.push((pool, claims_of(ctx, config, pool)));
    }
    let views: Vec<AccountView> = entries
        .iter()
        .map(|e| {
            let snapshot = claims
                .iter()
                .find(|(p, _)| *p == e.provider)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            AccountView::of(e.index, e.provider, &e.account, e.active.as_deref(), &snapshot, now)
        })
        .collect();
    if json {
        ctx.printer.json(&AccountsView { accounts: views });
        return Ok(());
    }
    if views.is_empty() {
        ctx.printer.note("no accounts");
        ctx.printer.note(&format!("hint: {}", Hint::Run(first_steps())));
        return Ok(());
    }
    let style = ctx.printer.style();
    let mut table = Table::new(&["#", "PROVIDER", "NAME", "ID", "STATE", "PLAN"]);
    for v in &views {
        let marker = if v.active { "*" } else { "" };
        table.row(vec![
            (v.index.to_string(), None),
            (v.provider.to_string(), None),
            (format!("{}{marker}", v.name), None),
            (v.short_id().to_owned(), None),
            (v.state.as_str().to_owned(), Some(badge(v.state).color())),
            (if v.plan.is_empty() { "-".to_owned() } else { v.plan.clone() }, None),
        ]);
    }
    for line in table.render(style) {
        ctx.printer.out(&line);
    }
    Ok(())
}

fn set_enabled(
    ctx: &Context,
    config: &MacConfig,
    target: &AccountTarget,
    enabled: bool,
) -> Result<(), CliError> {
    let entries = listing(ctx, config, target.provider.map(Into::into))?;
    let entry = pick(&entries, target)?;
    ctx.writer(entry.provider, config)?.set_enabled(entry.uuid(), enabled)?;
    let what = if enabled { "enabled" } else { "disabled" };
    ctx.printer.out(&format!("{what} {}", entry.describe()));
    Ok(())
}

fn confirm_remove(entry: &Entry) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NeedsConfirmation {
            name: entry.account.display_name(),
            id: entry.uuid().to_owned(),
        });
    }
    let mut prompter = InquirePrompter::new().map_err(|_| CliError::NeedsConfirmation {
        name: entry.account.display_name(),
        id: entry.uuid().to_owned(),
    })?;
    Ok(prompter.confirm(&format!("Remove {}?", entry.describe()), false)?)
}

/// A token as typed (or read from standard input with `-`), checked without quoting it.
fn token(value: &str, what: &'static str, flag: &'static str) -> Result<Secret, CliError> {
    let text = if value == "-" {
        let mut text = String::new();
        std::io::stdin().lock().read_to_string(&mut text).context(StdinSnafu)?;
        text
    } else {
        value.to_owned()
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::MalformedToken { what, problem: "it is empty", flag });
    }
    if !text.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CliError::MalformedToken {
            what,
            problem: "it contains spaces, line breaks or non-ASCII characters",
            flag,
        });
    }
    Ok(Secret::new(text))
}

fn add(ctx: &Context, config: &MacConfig, args: &AddArgs) -> Result<(), CliError> {
    let provider = Provider::from(args.provider);
    if args.refresh_token == "-" && args.access_token.as_deref() == Some("-") {
        return Err(CliError::Usage {
            message: "only one token can be read from standard input".into(),
            flag: "--access-token",
        });
    }
    let refresh_token = token(&args.refresh_token, "refresh token", "--refresh-token")?;
    let access_token = args
        .access_token
        .as_deref()
        .map(|a| token(a, "access token", "--access-token"))
        .transpose()?;
    let label = args.label.as_deref().map(checked_label).transpose()?;
    if let Some(expires) = args.expires_at
        && expires <= 0
    {
        return Err(CliError::Usage {
            message: "--expires-at is epoch milliseconds and must be positive".into(),
            flag: "--expires-at",
        });
    }
    let mut new = NewAccount::from_credentials(Credentials {
        refresh_token,
        access_token: access_token.clone(),
        expires_at: args.expires_at.map(EpochMs::from_millis),
    });
    new.label = label;
    new.email.clone_from(&args.email);
    if provider == Provider::Codex
        && let Some(access) = &access_token
    {
        let Some(claims) = jwt::decode_payload(access.expose()) else {
            return Err(CliError::MalformedToken {
                what: "access token",
                problem: "a codex access token is a JWT (three dot-separated parts) and this is not one",
                flag: "--access-token",
            });
        };
        new.account_id = jwt::account_id_from_claims(&claims);
        if new.account_id.is_none() {
            return Err(CliError::MalformedToken {
                what: "access token",
                problem: "its JWT names no ChatGPT account id",
                flag: "--access-token",
            });
        }
        if new.email.is_none() {
            new.email = jwt::email_from_claims(&claims);
        }
        new.plan_tier = jwt::plan_from_claims(&claims).map(|p| jwt::derive_plan_tier(Some(&p)));
        if new.credentials.expires_at.is_none() {
            new.credentials.expires_at = jwt::expiry(access.expose());
        }
    }
    let store = ctx.writer(provider, config)?;
    match store.add_account(&new, EpochMs::now())? {
        AddOutcome::Added { uuid } => {
            ctx.printer.note(&format!("added an account to the {provider} pool"));
            ctx.printer.out(&uuid);
        }
        AddOutcome::Updated { uuid, matched_by } => {
            ctx.printer
                .note(&format!("updated the {provider} account it already had ({matched_by:?})"));
            ctx.printer.out(&uuid);
        }
    }
    Ok(())
}
