//! The account menu's flows (the seed's interactive manager): the main menu, picking an
//! account, what to do with it, and the load-balancing strategy. Each flow only asks, through a
//! [`Prompter`], and returns what the user chose; the caller changes the pool, so these run the
//! same against a terminal and against a script.

use mac_storage::Provider;

use crate::prompt::{Choice, PromptError, Prompter};
use crate::style::Badge;

/// What the main menu asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MainAction {
    /// Log in a new account.
    Add,
    /// Fetch and show every account's usage.
    CheckQuotas,
    /// Pick an account to toggle, re-login or delete.
    Manage,
    /// Choose the load-balancing strategy.
    Strategy,
    /// Delete every account of the pool (already confirmed).
    DeleteAll,
}

/// What to do with one account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountAction {
    /// Switch it on or off.
    Toggle,
    /// Log in again and give it the new tokens.
    Relogin,
    /// Delete it (already confirmed).
    Delete,
}

/// An account as the menu shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuAccount {
    /// Label, else email, else a short id.
    pub name: String,
    /// Its state.
    pub badge: Badge,
    /// The user's on/off switch.
    pub enabled: bool,
    /// `used today`, `used 3d ago`; `None` when never used.
    pub last_used: Option<String>,
}

/// The strategies `[pool] strategy` accepts, with what each does.
pub const STRATEGIES: [(&str, &str); 3] = [
    ("sticky", "same account until rate-limited"),
    ("round-robin", "rotate every request"),
    ("hybrid", "score-based (usage + health)"),
];

/// Asks which provider's pool to manage.
pub fn choose_provider(prompter: &mut dyn Prompter) -> Result<Option<Provider>, PromptError> {
    let choices: Vec<Choice> = Provider::ALL.iter().map(|p| Choice::new(p.as_str())).collect();
    Ok(prompter
        .select("Which pool?", &choices)?
        .and_then(|index| Provider::ALL.get(index).copied()))
}

/// The main menu of a pool of `count` accounts. "Delete all accounts" asks for confirmation
/// and shows the menu again when declined. `None`: the user left the menu.
pub fn main_menu(
    prompter: &mut dyn Prompter,
    provider: Provider,
    count: usize,
) -> Result<Option<MainAction>, PromptError> {
    let items = [
        (MainAction::Add, "Add new account"),
        (MainAction::CheckQuotas, "Check quotas"),
        (MainAction::Manage, "Manage accounts"),
        (MainAction::Strategy, "Load balancing"),
        (MainAction::DeleteAll, "Delete all accounts"),
    ];
    let choices: Vec<Choice> = items.iter().map(|(_, label)| Choice::new(*label)).collect();
    let message = format!("mac: {provider} pool, {count} account(s)");
    loop {
        let Some(index) = prompter.select(&message, &choices)? else { return Ok(None) };
        let Some((action, _)) = items.get(index) else { return Ok(None) };
        if *action == MainAction::DeleteAll
            && !prompter.confirm("Delete ALL accounts? This cannot be undone.", false)?
        {
            continue;
        }
        return Ok(Some(*action));
    }
}

/// Picks an account; `None` is "Back".
pub fn choose_account(
    prompter: &mut dyn Prompter,
    accounts: &[MenuAccount],
) -> Result<Option<usize>, PromptError> {
    let mut choices = vec![Choice::new("Back")];
    choices.extend(accounts.iter().map(|account| {
        let label = format!("{} [{}]", account.name, account.badge);
        match &account.last_used {
            Some(hint) => Choice::with_hint(label, hint.clone()),
            None => Choice::new(label),
        }
    }));
    Ok(match prompter.select("Manage accounts", &choices)? {
        None | Some(0) => None,
        Some(index) => Some(index - 1),
    })
}

/// What to do with `account`; deleting asks for confirmation. `None` is "Back" (or a declined
/// delete).
pub fn account_menu(
    prompter: &mut dyn Prompter,
    account: &MenuAccount,
) -> Result<Option<AccountAction>, PromptError> {
    let toggle = if account.enabled { "Disable account" } else { "Enable account" };
    let items = [
        (None, "Back"),
        (Some(AccountAction::Toggle), toggle),
        (Some(AccountAction::Relogin), "Re-authenticate"),
        (Some(AccountAction::Delete), "Delete this account"),
    ];
    let choices: Vec<Choice> = items.iter().map(|(_, label)| Choice::new(*label)).collect();
    let message = format!("{} [{}]", account.name, account.badge);
    let Some(index) = prompter.select(&message, &choices)? else { return Ok(None) };
    let action = items.get(index).and_then(|(action, _)| *action);
    if action == Some(AccountAction::Delete)
        && !prompter.confirm(&format!("Delete {}?", account.name), false)?
    {
        return Ok(None);
    }
    Ok(action)
}

/// Picks a strategy; the current one is marked. `None`: cancelled.
pub fn choose_strategy(
    prompter: &mut dyn Prompter,
    current: &str,
) -> Result<Option<&'static str>, PromptError> {
    let choices: Vec<Choice> = STRATEGIES
        .iter()
        .map(|(name, what)| {
            let label =
                if *name == current { format!("{name} (current)") } else { (*name).to_owned() };
            Choice::with_hint(label, *what)
        })
        .collect();
    let message = format!("Load balancing (current: {current})");
    Ok(prompter.select(&message, &choices)?.and_then(|i| STRATEGIES.get(i)).map(|(name, _)| *name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScriptedPrompter;

    fn account(enabled: bool) -> MenuAccount {
        MenuAccount { name: "me@example.com".into(), badge: Badge::Ready, enabled, last_used: None }
    }

    #[test]
    fn delete_all_needs_confirmation() {
        let mut p = ScriptedPrompter::new(&["Delete all", "!no", "Delete all", "!yes"]);
        assert_eq!(main_menu(&mut p, Provider::Codex, 2).unwrap(), Some(MainAction::DeleteAll));
        assert!(p.is_done());
        assert_eq!(p.asked[1], "Delete ALL accounts? This cannot be undone.");
    }

    #[test]
    fn account_actions() {
        let mut p = ScriptedPrompter::new(&["Disable", "Enable", "Delete", "!no", "Back"]);
        assert_eq!(account_menu(&mut p, &account(true)).unwrap(), Some(AccountAction::Toggle));
        assert_eq!(account_menu(&mut p, &account(false)).unwrap(), Some(AccountAction::Toggle));
        assert_eq!(account_menu(&mut p, &account(true)).unwrap(), None);
        assert_eq!(account_menu(&mut p, &account(true)).unwrap(), None);
        assert!(p.is_done());
    }

    #[test]
    fn picking_accounts_and_strategies() {
        let accounts = vec![account(true), MenuAccount { name: "b".into(), ..account(true) }];
        let mut p = ScriptedPrompter::new(&["b [", "Back", "hybrid", "!cancel"]);
        assert_eq!(choose_account(&mut p, &accounts).unwrap(), Some(1));
        assert_eq!(choose_account(&mut p, &accounts).unwrap(), None);
        assert_eq!(choose_strategy(&mut p, "sticky").unwrap(), Some("hybrid"));
        assert_eq!(choose_strategy(&mut p, "sticky").unwrap(), None);
    }
}
