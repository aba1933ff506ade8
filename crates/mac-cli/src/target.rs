//! Which account an `<ID>` names: a uuid, the `#` of `mac accounts list`, a label or email, or
//! a unique uuid prefix — tried in that order over the same listing `mac accounts list` shows.

use mac_core::MacConfig;
use mac_storage::{Provider, StoredAccount};

use crate::context::Context;
use crate::error::CliError;

/// The shortest uuid prefix accepted, so a stray letter does not pick an account.
const MIN_PREFIX: usize = 4;

/// One account of a listing.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The `#` shown (1-based).
    pub(crate) index: usize,
    /// Its pool.
    pub(crate) provider: Provider,
    /// The account as stored.
    pub(crate) account: StoredAccount,
    /// The pool's active account uuid.
    pub(crate) active: Option<String>,
}

impl Entry {
    /// `codex me@example.com (1a2b3c4d)`.
    pub(crate) fn describe(&self) -> String {
        let uuid = self.account.uuid.as_deref().unwrap_or("no id");
        format!(
            "{} {} ({})",
            self.provider,
            self.account.display_name(),
            uuid.get(..8).unwrap_or(uuid)
        )
    }

    /// The uuid; accounts from old files without one cannot be changed by id.
    pub(crate) fn uuid(&self) -> &str {
        self.account.uuid.as_deref().unwrap_or_default()
    }
}

/// The accounts of `provider` (or of every pool), numbered in order.
pub(crate) fn listing(
    ctx: &Context,
    config: &MacConfig,
    provider: Option<Provider>,
) -> Result<Vec<Entry>, CliError> {
    let mut entries = Vec::new();
    for pool in Provider::ALL.into_iter().filter(|p| provider.is_none_or(|want| want == *p)) {
        let document = ctx.reader(pool, config)?.load()?;
        for account in &document.accounts {
            entries.push(Entry {
                index: entries.len() + 1,
                provider: pool,
                account: account.clone(),
                active: document.active_account_uuid.clone(),
            });
        }
    }
    Ok(entries)
}

/// The entry `id` names in `entries`.
pub(crate) fn resolve<'e>(
    entries: &'e [Entry],
    id: &str,
    provider: Option<Provider>,
) -> Result<&'e Entry, CliError> {
    let id = id.trim();
    let unknown = || CliError::UnknownAccount { id: id.to_owned(), provider };
    if id.is_empty() {
        return Err(unknown());
    }
    if let Some(entry) = entries.iter().find(|e| e.account.uuid.as_deref() == Some(id)) {
        return Ok(entry);
    }
    // A number is a list index first; one that is no index may still be a uuid prefix (one
    // uuid in forty starts with eight decimal digits).
    if let Ok(index) = id.parse::<usize>()
        && let Some(entry) = entries.iter().find(|e| e.index == index)
    {
        return Ok(entry);
    }
    let same =
        |value: &Option<String>| value.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(id));
    let named: Vec<&Entry> =
        entries.iter().filter(|e| same(&e.account.label) || same(&e.account.email)).collect();
    let prefixed: Vec<&Entry> = if id.len() >= MIN_PREFIX {
        entries
            .iter()
            .filter(|e| {
                e.account.uuid.as_deref().is_some_and(|u| u.starts_with(&id.to_ascii_lowercase()))
            })
            .collect()
    } else {
        Vec::new()
    };
    let found = if named.is_empty() { prefixed } else { named };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(unknown()),
        many => Err(CliError::AmbiguousAccount {
            id: id.to_owned(),
            matches: many.iter().map(|e| e.describe()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mac_storage::{Credentials, EpochMs, Secret};

    fn entry(index: usize, uuid: &str, label: Option<&str>, email: &str) -> Entry {
        let credentials =
            Credentials { refresh_token: Secret::new("rt"), access_token: None, expires_at: None };
        let mut account = StoredAccount::new(credentials, EpochMs::from_millis(0));
        account.uuid = Some(uuid.into());
        account.label = label.map(Into::into);
        account.email = Some(email.into());
        Entry { index, provider: Provider::Anthropic, account, active: None }
    }

    #[test]
    fn a_uuid_prefix_of_digits_is_not_taken_for_an_index() {
        let entries = vec![
            entry(1, "32062554-0000-4000", None, "a@x.io"),
            entry(2, "aaaa2222-0000", None, "b@x.io"),
        ];
        let pick = |id| resolve(&entries, id, None).map(|e| e.index);
        assert_eq!(pick("32062554").unwrap(), 1);
        assert_eq!(pick("2").unwrap(), 2);
        assert!(pick("7").is_err());
    }

    #[test]
    fn every_kind_of_id() {
        let entries = vec![
            entry(1, "aaaa1111-0000", Some("work"), "a@x.io"),
            entry(2, "aaaa2222-0000", None, "b@x.io"),
            entry(3, "bbbb3333-0000", Some("Home"), "c@x.io"),
        ];
        let pick = |id| resolve(&entries, id, None).map(|e| e.index);
        assert_eq!(pick("aaaa2222-0000").unwrap(), 2);
        assert_eq!(pick("3").unwrap(), 3);
        assert_eq!(pick("home").unwrap(), 3);
        assert_eq!(pick("B@X.IO").unwrap(), 2);
        assert_eq!(pick("bbbb").unwrap(), 3);
        assert!(matches!(pick("aaaa"), Err(CliError::AmbiguousAccount { .. })));
        assert!(matches!(pick("4"), Err(CliError::UnknownAccount { .. })));
        assert!(matches!(pick("bb"), Err(CliError::UnknownAccount { .. })));
        assert!(matches!(pick(""), Err(CliError::UnknownAccount { .. })));
    }
}
