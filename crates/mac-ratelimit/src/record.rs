//! Recording a rate-limit response in the shared accounts file: classification and the change
//! happen inside one [`AccountStore::mutate`], so the ladder rung is read fresh under the
//! file's lock and two processes never climb the same rung twice.

use mac_storage::{AccountStore, Clock, StoreError};

use crate::classify::{CooldownPolicy, Decision, classify, decide};
use crate::observation::Observation;
use crate::state::apply;

/// Classifies `observation` for the account `uuid` and, if it is a rate limit, applies the
/// decision to the stored account (see [`apply`]) and returns it for the executor. A response
/// that is not a rate limit returns `Ok(None)` without touching the file. `now` is read from
/// `clock` inside the lock.
///
/// Errors are the store's: an unknown account (`is_unknown_account`), a lock timeout, an
/// unusable file. Nothing is written then.
pub fn record<C: Clock + ?Sized>(
    store: &AccountStore,
    uuid: &str,
    observation: &Observation,
    policy: &CooldownPolicy,
    clock: &C,
) -> Result<Option<Decision>, StoreError> {
    if classify(observation).is_none() {
        return Ok(None);
    }
    let decision = store.mutate(|document| {
        let account = store.account_mut(document, uuid)?;
        let now = clock.now();
        let decision = decide(observation, account.rate_limit_streak, policy, now);
        if let Some(decision) = &decision {
            apply(account, decision, now);
        }
        Ok(decision)
    })?;
    if let Some(decision) = &decision {
        tracing::info!(
            account = uuid,
            class = ?decision.class,
            basis = ?decision.basis,
            until_ms = decision.until.as_millis(),
            "rate limit recorded"
        );
    }
    Ok(decision)
}
