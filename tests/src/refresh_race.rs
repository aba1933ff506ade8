//! The cross-process refresh race (D11: two processes refreshing one grant log the user out, the
//! failure users of peer tools report most): N processes share one pool
//! whose access token has expired and whose fake token endpoint accepts each refresh token once,
//! slowly; all send a request at the same moment. Exactly one refresh request may reach the
//! provider, every process must succeed with the new token, and no account may be disabled.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mac_storage::{AccountStore, Credentials, EpochMs, NewAccount, Provider, Secret, StoreOptions};
use mac_test_support::{Endpoint, FakeGrant, FakeProvider, TempDataDir};

use crate::start_together::start_together;

/// What one race showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceOutcome {
    /// Processes that raced.
    pub processes: usize,
    /// Processes whose request got a 200.
    pub successes: usize,
    /// Refresh requests the token endpoint received (must be 1).
    pub refresh_requests: usize,
    /// Whether the account ended disabled (must not).
    pub disabled: bool,
    /// Whether the stored refresh token is the one the provider now accepts (must be).
    pub stored_token_is_current: bool,
    /// Wall time from the start signal to the last exit.
    pub elapsed: Duration,
    /// What failed workers printed.
    pub failures: Vec<String>,
}

/// Runs one race of `processes` `executor-worker` processes (binary at `worker`), with the
/// token endpoint answering after `token_delay`.
pub fn run(worker: &Path, processes: usize, token_delay: Duration) -> Result<RaceOutcome, String> {
    let fake = FakeProvider::start_in_background().map_err(|e| e.to_string())?;
    let dir = TempDataDir::new().map_err(|e| e.to_string())?;
    let store = AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default())
        .map_err(|e| e.to_string())?;
    let grant = FakeGrant {
        access_token_prefix: "raced-".into(),
        ..FakeGrant::anthropic("remote-uuid", "race@example.com")
    };
    fake.add_refresh_token("race-refresh", grant);
    fake.set_delay(Endpoint::AnthropicToken, token_delay);
    let expired = Credentials {
        refresh_token: Secret::new("race-refresh"),
        access_token: Some(Secret::new("long-expired")),
        expires_at: Some(EpochMs::from_millis(1_000)),
    };
    store
        .add_account(&NewAccount::from_credentials(expired), EpochMs::now())
        .map_err(|e| e.to_string())?;

    let commands = (0..processes).map(|_| {
        let mut command = Command::new(worker);
        command.arg(dir.path()).arg(fake.origin());
        command
    });
    // Let every worker start and block on the barrier.
    let (started, children) = start_together(commands, Duration::from_millis(300))?;
    let mut successes = 0;
    let mut failures = Vec::new();
    for child in children {
        let output =
            child.wait_with_timeout(Duration::from_secs(120)).map_err(|e| e.to_string())?;
        if output.status.success() {
            successes += 1;
        } else {
            failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
        }
    }
    let elapsed = started.elapsed();
    let document = store.load().map_err(|e| e.to_string())?;
    let account = document.accounts.first().ok_or("the account vanished")?;
    Ok(RaceOutcome {
        processes,
        successes,
        refresh_requests: fake.count(Endpoint::AnthropicToken),
        disabled: account.is_auth_disabled,
        stored_token_is_current: fake.current_refresh_token("race-refresh").as_deref()
            == Some(account.refresh_token.expose()),
        elapsed,
        failures,
    })
}
