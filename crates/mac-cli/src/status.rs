//! `mac status`: every provider pool's accounts and their state, as a table or as JSON. The
//! JSON view is built from labels and states only; it has no field that could hold a token.

use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use mac_claims::{Claims, ClaimsOptions, ClaimsSnapshot};
use mac_storage::{
    AccountStore, DataDir, EpochMs, Provider, StoreOptions, StoredAccount, SystemClock,
};
use serde_json::{Value, json};

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
}

/// Prints the status of every pool; exit code 1 when some pool file could not be read.
pub(crate) fn run(data_dir: &DataDir, format: Format) -> ExitCode {
    let now = EpochMs::now();
    let mut failed = false;
    let mut pools = Vec::new();
    for provider in Provider::ALL {
        // Reads only: `at_path` creates nothing, so status never makes a data directory.
        let store =
            AccountStore::at_path(data_dir.accounts_file(provider), StoreOptions::default());
        let claims = Claims::at_path(
            data_dir.claims_file(provider),
            ClaimsOptions { heartbeat_interval: None, ..ClaimsOptions::default() },
            Arc::new(SystemClock),
        );
        // Claims are soft state: an unreadable claims file shows as "no holder".
        let claims = claims.snapshot().unwrap_or_default();
        match store.load() {
            Ok(document) => {
                let active = document.active_account_uuid.as_deref();
                let accounts: Vec<AccountView> = document
                    .accounts
                    .iter()
                    .map(|account| AccountView::of(account, active, &claims, now))
                    .collect();
                pools.push((provider, Ok(accounts)));
            }
            Err(err) => {
                failed = true;
                pools.push((provider, Err(err.to_string())));
            }
        }
    }
    match format {
        Format::Json => println!("{}", to_json(data_dir, &pools)),
        Format::Table => print_table(data_dir, &pools),
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// What status shows of one account: no tokens, by construction.
struct AccountView {
    id: String,
    name: String,
    plan: String,
    active: bool,
    state: String,
    token: String,
    last_used: String,
    held_by: Option<u32>,
}

impl AccountView {
    fn of(
        account: &StoredAccount,
        active: Option<&str>,
        claims: &ClaimsSnapshot,
        now: EpochMs,
    ) -> Self {
        let id = account.uuid.clone().unwrap_or_default();
        let state = if !account.enabled {
            "disabled".to_owned()
        } else if account.is_auth_disabled {
            format!(
                "needs login ({})",
                account.auth_disabled_reason.as_deref().unwrap_or("auth failed")
            )
        } else if let Some(until) = mac_ratelimit::blocked_until(account, now) {
            format!("rate-limited for {}", human(until.duration_since(now)))
        } else if account.consecutive_auth_failures > 0 {
            format!("ok ({} auth failures)", account.consecutive_auth_failures)
        } else {
            "ok".to_owned()
        };
        let token = match account.expires_at {
            None => "no access token".to_owned(),
            Some(expiry) if expiry > now => {
                format!("expires in {}", human(expiry.duration_since(now)))
            }
            Some(expiry) => format!("expired {} ago", human(now.duration_since(expiry))),
        };
        Self {
            active: active == Some(id.as_str()) && !id.is_empty(),
            name: account.display_name(),
            plan: if account.plan_tier.is_empty() {
                "-".to_owned()
            } else {
                account.plan_tier.clone()
            },
            state,
            token,
            last_used: format!("{} ago", human(now.duration_since(account.last_used))),
            held_by: claims.get(&id).map(|claim| claim.pid),
            id,
        }
    }
}

fn to_json(data_dir: &DataDir, pools: &[(Provider, Result<Vec<AccountView>, String>)]) -> Value {
    let pools: Vec<Value> = pools
        .iter()
        .map(|(provider, result)| match result {
            Ok(accounts) => json!({
                "provider": provider.as_str(),
                "accounts": accounts.iter().map(|a| json!({
                    "id": a.id, "name": a.name, "plan": a.plan, "active": a.active,
                    "state": a.state, "token": a.token, "lastUsed": a.last_used, "heldByPid": a.held_by,
                })).collect::<Vec<_>>(),
            }),
            Err(message) => json!({ "provider": provider.as_str(), "error": message }),
        })
        .collect();
    json!({ "dataDir": data_dir.path().display().to_string(), "pools": pools })
}

fn print_table(data_dir: &DataDir, pools: &[(Provider, Result<Vec<AccountView>, String>)]) {
    println!("data directory: {}", data_dir.path().display());
    for (provider, result) in pools {
        println!();
        match result {
            Err(message) => println!("{provider}: error: {message}"),
            Ok(accounts) if accounts.is_empty() => println!("{provider}: no accounts"),
            Ok(accounts) => {
                println!("{provider}: {} account(s)", accounts.len());
                for a in accounts {
                    let marker = if a.active { "*" } else { " " };
                    let holder =
                        a.held_by.map(|pid| format!(", held by pid {pid}")).unwrap_or_default();
                    println!(
                        " {marker} {:<28} {:<6} {:<34} {:<22} used {}{holder}",
                        a.name, a.plan, a.state, a.token, a.last_used
                    );
                }
            }
        }
    }
}

/// `1d 2h`, `3h 4m`, `5m 6s`, `7s`.
fn human(duration: Duration) -> String {
    let secs = duration.as_secs();
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {seconds}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human;
    use std::time::Duration;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(7)), "7s");
        assert_eq!(human(Duration::from_secs(61)), "1m 1s");
        assert_eq!(human(Duration::from_secs(3_600)), "1h 0m");
        assert_eq!(human(Duration::from_secs(90_061)), "1d 1h");
    }
}
