//! The interactive manager behind `mac menu`: the menu flows of `mac-ui` applied to a pool.
//! Everything that needs the network or a person (logging in, fetching usage) goes through a
//! [`MenuHost`], and every question through a [`Prompter`], so the whole loop runs in tests
//! against a scripted prompter and a fake host, and in a terminal against `inquire`.

use std::path::Path;

use mac_adapters::LoginOutcome;
use mac_claims::ClaimsSnapshot;
use mac_core::MacConfig;
use mac_core::config::no_env;
use mac_storage::{
    AccountStore, AddOutcome, DataDir, Durability, EpochMs, LockedFile, Provider, StoreOptions,
};
use mac_ui::{
    AccountAction, MainAction, MenuAccount, Prompter, account_menu, choose_account,
    choose_provider, choose_strategy, main_menu, relative_day,
};

use crate::error::CliError;
use mac_core::status::AccountView;

use crate::views::{badge, state_of, window_human};

/// What the menu needs from outside: output, logins and usage fetches.
pub trait MenuHost {
    /// Shows a line to the user.
    fn say(&mut self, line: &str);
    /// Runs a login of `provider` and returns its outcome.
    fn login(&mut self, provider: Provider) -> Result<LoginOutcome, CliError>;
    /// Fetches and records the usage of every account of `provider`.
    fn refresh_usage(&mut self, provider: Provider) -> Result<(), CliError>;
    /// Who holds which account now.
    fn claims(&mut self, provider: Provider) -> ClaimsSnapshot;
}

/// Runs the menu over the pool of `provider` (asked for when `None`) until the user leaves.
pub fn run(
    data_dir: &DataDir,
    config: &MacConfig,
    provider: Option<Provider>,
    prompter: &mut dyn Prompter,
    host: &mut dyn MenuHost,
) -> Result<(), CliError> {
    let provider = match provider {
        Some(provider) => provider,
        None => match choose_provider(prompter)? {
            Some(provider) => provider,
            None => return Ok(()),
        },
    };
    // On the configured storage backend, like every command.
    let store = mac_core::open_account_store(config, data_dir, provider)?;
    let mut strategy = config.pool.strategy.as_str().to_owned();
    loop {
        let count = store.load()?.accounts.len();
        let Some(action) = main_menu(prompter, provider, count)? else { return Ok(()) };
        match action {
            MainAction::Add => add(&store, provider, host)?,
            MainAction::CheckQuotas => check_quotas(&store, provider, host)?,
            MainAction::Manage => manage(&store, provider, prompter, host)?,
            MainAction::Strategy => {
                if let Some(chosen) = choose_strategy(prompter, &strategy)?
                    && chosen != strategy
                {
                    write_strategy(&data_dir.config_file(), chosen)?;
                    host.say(&format!("Load balancing strategy changed: {strategy} → {chosen}"));
                    chosen.clone_into(&mut strategy);
                }
            }
            MainAction::DeleteAll => {
                store.clear()?;
                host.say("All accounts deleted.");
            }
        }
    }
}

fn add(store: &AccountStore, provider: Provider, host: &mut dyn MenuHost) -> Result<(), CliError> {
    let outcome = match host.login(provider) {
        Ok(outcome) => outcome,
        Err(err) => {
            host.say(&format!("Login failed: {err}"));
            return Ok(());
        }
    };
    let added = store.add_account(&outcome.into_new_account(), EpochMs::now())?;
    let total = store.load()?.accounts.len();
    host.say(&match added {
        AddOutcome::Added { .. } => {
            format!("Account added to the {provider} pool ({total} total).")
        }
        AddOutcome::Updated { .. } => {
            format!(
                "Account already in the {provider} pool; its login was updated ({total} total)."
            )
        }
    });
    Ok(())
}

fn check_quotas(
    store: &AccountStore,
    provider: Provider,
    host: &mut dyn MenuHost,
) -> Result<(), CliError> {
    if let Err(err) = host.refresh_usage(provider) {
        host.say(&format!("Could not fetch usage: {err}"));
    }
    let document = store.load()?;
    let claims = host.claims(provider);
    let now = EpochMs::now();
    host.say(&format!("Quotas of {} account(s):", document.accounts.len()));
    for (index, account) in document.accounts.iter().enumerate() {
        let view = AccountView::of(
            index + 1,
            provider,
            account,
            document.active_account_uuid.as_deref(),
            &claims,
            now,
        );
        let window = |w: &Option<mac_core::status::WindowView>| {
            w.as_ref().map_or_else(|| "no data".to_owned(), |w| window_human(w, now))
        };
        host.say(&format!(
            "  {} [{}]  5h: {}  7d: {}",
            view.name,
            view.state,
            window(&view.five_hour),
            window(&view.seven_day)
        ));
    }
    Ok(())
}

fn manage(
    store: &AccountStore,
    provider: Provider,
    prompter: &mut dyn Prompter,
    host: &mut dyn MenuHost,
) -> Result<(), CliError> {
    let now = EpochMs::now();
    let document = store.load()?;
    let accounts: Vec<MenuAccount> = document
        .accounts
        .iter()
        .map(|a| MenuAccount {
            name: a.display_name(),
            badge: badge(state_of(a, now).0),
            enabled: a.enabled,
            last_used: (a.last_used > a.added_at)
                .then(|| format!("used {}", relative_day(now.duration_since(a.last_used)))),
        })
        .collect();
    let Some(index) = choose_account(prompter, &accounts)? else { return Ok(()) };
    let (Some(account), Some(shown)) = (document.accounts.get(index), accounts.get(index)) else {
        return Ok(());
    };
    let Some(uuid) = account.uuid.clone() else {
        host.say("This account has no id (it comes from an old file) and cannot be changed here.");
        return Ok(());
    };
    match account_menu(prompter, shown)? {
        None => {}
        Some(AccountAction::Toggle) => {
            store.set_enabled(&uuid, !account.enabled)?;
            let state = if account.enabled { "disabled" } else { "enabled" };
            host.say(&format!("{} {state}.", shown.name));
        }
        Some(AccountAction::Delete) => {
            let removed = store.remove_account(&uuid)?;
            host.say(if removed { "Account deleted." } else { "The account was already gone." });
        }
        Some(AccountAction::Relogin) => {
            let outcome = match host.login(provider) {
                Ok(outcome) => outcome,
                Err(err) => {
                    host.say(&format!("Login failed: {err}"));
                    return Ok(());
                }
            };
            match crate::relogin::apply(store, provider, &uuid, outcome) {
                Ok(name) => host.say(&format!("{name} re-authenticated.")),
                Err(err @ CliError::WrongAccount { .. }) => {
                    host.say(&format!("Not changed: {err}"));
                }
                Err(err) => return Err(err),
            }
        }
    }
    Ok(())
}

/// Sets `[pool] strategy` in `config.toml`, keeping every other line (and comment) as it is;
/// the new text is validated before it replaces the file.
fn write_strategy(path: &Path, strategy: &str) -> Result<(), CliError> {
    let write_error = |err: &dyn std::fmt::Display| CliError::WriteFile {
        path: path.to_path_buf(),
        source: std::io::Error::other(err.to_string()),
    };
    // Under the file's lock and replaced atomically with an fsync, as mac-storage writes every
    // durable file: a crash leaves the old or the new file, and two menus do not interleave.
    let locked = LockedFile::acquire(path, StoreOptions::default().lock_timeout)
        .map_err(|err| write_error(&err))?;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => return Err(CliError::WriteFile { path: path.to_path_buf(), source }),
    };
    let updated = with_strategy(&text, strategy);
    let file = path.display().to_string();
    MacConfig::check_text(&updated, &file, no_env)
        .map_err(|errors| CliError::Config { errors, path: path.to_path_buf() })?;
    locked.replace(updated.as_bytes(), None, Durability::Fsync).map_err(|err| write_error(&err))?;
    Ok(())
}

/// `text` with `strategy = "<strategy>"` under `[pool]`: the existing line replaced, else
/// added after the section header, else a `[pool]` section appended.
fn with_strategy(text: &str, strategy: &str) -> String {
    let line = format!("strategy = \"{strategy}\"");
    let mut out: Vec<String> = Vec::new();
    let mut in_pool = false;
    let mut done = false;
    for raw in text.lines() {
        let trimmed = raw.trim();
        if trimmed.starts_with('[') {
            in_pool = trimmed.trim_end_matches(|c: char| c != ']') == "[pool]";
            out.push(raw.to_owned());
            if in_pool && !done {
                out.push(line.clone());
                done = true;
            }
            continue;
        }
        let key = trimmed.split('=').next().unwrap_or_default().trim();
        if in_pool && key == "strategy" {
            continue;
        }
        out.push(raw.to_owned());
    }
    if !done {
        if !out.is_empty() {
            out.push(String::new());
        }
        out.push("[pool]".to_owned());
        out.push(line);
    }
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

#[cfg(test)]
mod tests {
    use super::with_strategy;

    #[test]
    fn strategy_edits_keep_the_rest() {
        assert_eq!(with_strategy("", "hybrid"), "[pool]\nstrategy = \"hybrid\"\n");
        let text = "# mine\n[pool]\nmax_wait = \"5m\" # keep\nstrategy = \"sticky\"\n[retry]\n";
        assert_eq!(
            with_strategy(text, "round-robin"),
            "# mine\n[pool]\nstrategy = \"round-robin\"\nmax_wait = \"5m\" # keep\n[retry]\n"
        );
        assert_eq!(
            with_strategy("[retry]\n", "hybrid"),
            "[retry]\n\n[pool]\nstrategy = \"hybrid\"\n"
        );
    }
}
