//! The storage and account-store items of the seed's conformance checklist that still apply
//! after D1–D7, plus the rules the decisions added (dedup by identity, CAS, the disabling rule).

use std::sync::Arc;

use mac_storage::{
    AddOutcome, AuthFailure, AuthFailureOutcome, CasOutcome, CredentialPatch, EpochMs, MatchedBy,
    Secret, SuccessOutcome, UsageLimits, UsageWindow,
};
use serde_json::Value;

use crate::{Fixture, add, at, creds, new_account};

const SEED_FILE: &str = r#"{
  "version": 1,
  "accounts": [
    {
      "uuid": "0b6d3c1e-5a7f-4d2e-9c1b-2f3e4d5c6b7a",
      "accountId": "acct-1",
      "email": "me@example.com",
      "planTier": "max",
      "refreshToken": "seed-refresh",
      "accessToken": "seed-access",
      "expiresAt": 1773200000000,
      "addedAt": 1773100000000,
      "lastUsed": 1773150000000,
      "enabled": true,
      "cachedUsage": {
        "five_hour": { "utilization": 42, "resets_at": "2026-03-11T05:00:00Z" },
        "seven_day": { "utilization": 10, "resets_at": "2026-03-16T00:00:00Z" },
        "seven_day_sonnet": null
      },
      "cachedUsageAt": 1773150000000,
      "consecutiveAuthFailures": 0,
      "isAuthDisabled": false,
      "deviceId": "kept-unknown-field"
    }
  ],
  "activeAccountUuid": "0b6d3c1e-5a7f-4d2e-9c1b-2f3e4d5c6b7a",
  "someFutureKey": {"a": 1}
}
"#;

const SEED_UUID: &str = "0b6d3c1e-5a7f-4d2e-9c1b-2f3e4d5c6b7a";

#[test]
fn missing_file_is_an_empty_pool_and_nothing_is_created() {
    let fx = Fixture::new();
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.version, 1);
    assert!(doc.accounts.is_empty());
    assert_eq!(doc.active_account_uuid, None);
    let json: Value = serde_json::to_value(&*doc).unwrap();
    assert_eq!(json, serde_json::json!({"version": 1, "accounts": []}));
    assert!(!fx.path().exists());
}

#[test]
fn a_seed_file_loads_as_is_and_survives_a_write() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), SEED_FILE).unwrap();
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.version, 1);
    assert_eq!(doc.accounts.len(), 1);
    let account = &doc.accounts[0];
    assert_eq!(account.uuid.as_deref(), Some(SEED_UUID));
    assert_eq!(account.refresh_token.expose(), "seed-refresh");
    assert_eq!(doc.active_account_uuid.as_deref(), Some(SEED_UUID));
    // Credentials read back (the seed's readCredentials), with the ChatGPT account id.
    let credentials = account.credentials();
    assert_eq!(credentials.access_token.unwrap().expose(), "seed-access");
    assert_eq!(credentials.expires_at, Some(at(1_773_200_000_000)));
    assert_eq!(account.account_id.as_deref(), Some("acct-1"));

    fx.store.record_rate_limit(SEED_UUID, at(1_773_300_000_000)).unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(fx.path()).unwrap()).unwrap();
    let mut expected: Value = serde_json::from_str(SEED_FILE).unwrap();
    expected["accounts"][0]["rateLimitResetAt"] = Value::from(1_773_300_000_000_i64);
    expected["generation"] = Value::from(1);
    assert_eq!(written, expected, "only the changed field and the generation differ");
}

#[test]
fn readers_find_nothing_for_unknown_ids() {
    let fx = Fixture::new();
    std::fs::write(fx.path(), SEED_FILE).unwrap();
    assert!(fx.store.load().unwrap().account("nope").is_none());
}

#[test]
fn add_then_load_and_active_defaults_to_the_first() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    let second = add(&fx.store, &new_account("r2"));
    let doc = fx.store.load().unwrap();
    let uuids: Vec<_> = doc.accounts.iter().map(|a| a.uuid.clone().unwrap()).collect();
    assert_eq!(uuids, [first.clone(), second]);
    assert_eq!(doc.active_account_uuid.as_deref(), Some(first.as_str()));
}

#[test]
fn mutate_returns_the_value_and_persists() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    let label = fx
        .store
        .mutate(|doc| {
            let account = fx.store.account_mut(doc, &uuid)?;
            account.label = Some("work".into());
            Ok(account.display_name())
        })
        .unwrap();
    assert_eq!(label, "work");
    assert_eq!(
        fx.other_store().load().unwrap().account(&uuid).unwrap().label.as_deref(),
        Some("work")
    );
}

#[test]
fn mutate_of_an_unknown_id_fails_and_writes_nothing() {
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    let before = std::fs::read(fx.path()).unwrap();
    let err = fx.store.set_enabled("unknown", false).unwrap_err();
    assert!(err.is_unknown_account(), "{err}");
    assert!(err.to_string().contains("unknown"), "{err}");
    assert_eq!(std::fs::read(fx.path()).unwrap(), before);

    let empty = Fixture::new();
    assert!(empty.store.record_rate_limit("x", at(5)).unwrap_err().is_unknown_account());
    assert!(!empty.path().exists(), "a failed change on a missing file creates nothing");
}

#[test]
fn mutate_can_append_and_set_active_in_order() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    fx.store
        .mutate(|doc| {
            let mut account = mac_storage::StoredAccount::new(creds("r2"), at(5));
            account.uuid = Some("manual".into());
            doc.accounts.push(account);
            doc.active_account_uuid = Some("manual".into());
            Ok(())
        })
        .unwrap();
    let doc = fx.store.load().unwrap();
    let uuids: Vec<_> = doc.accounts.iter().map(|a| a.uuid.clone().unwrap()).collect();
    assert_eq!(uuids, [first, "manual".to_owned()]);
    assert_eq!(doc.active_account_uuid.as_deref(), Some("manual"));
}

#[test]
fn an_unchanged_document_is_not_written() {
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    let before = std::fs::metadata(fx.path()).unwrap().modified().unwrap();
    let generation = fx.store.load().unwrap().generation;
    fx.store.mutate(|_| Ok(())).unwrap();
    fx.store.set_active(None).and_then(|()| fx.store.set_active(None)).unwrap();
    // The first set_active(None) changed the pointer; the second found nothing to change.
    assert_eq!(fx.store.load().unwrap().generation, generation + 1);
    assert!(std::fs::metadata(fx.path()).unwrap().modified().unwrap() > before);
}

#[test]
fn add_with_a_known_refresh_token_updates_instead_of_duplicating() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    fx.store.record_auth_failure(&uuid, &creds("r1"), AuthFailure::Permanent, 3).unwrap();
    let mut again = new_account("r1");
    again.credentials.access_token = Some(Secret::new("fresh-access"));
    again.email = Some("me@example.com".into());
    let outcome = fx.store.add_account(&again, at(9)).unwrap();
    assert_eq!(
        outcome,
        AddOutcome::Updated { uuid: uuid.clone(), matched_by: MatchedBy::RefreshToken }
    );
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.accounts.len(), 1);
    let account = &doc.accounts[0];
    assert_eq!(account.access_token.as_ref().unwrap().expose(), "fresh-access");
    assert_eq!(account.email.as_deref(), Some("me@example.com"));
    assert!(!account.is_auth_disabled, "a new login re-enables");
    assert_eq!(account.uuid.as_deref(), Some(uuid.as_str()), "the local id never changes");
}

#[test]
fn add_matches_provider_ids_and_emails_but_keeps_distinct_identities_apart() {
    let fx = Fixture::new();
    let mut alice = new_account("a1");
    alice.email = Some("alice@example.com".into());
    alice.account_id = Some("workspace-1".into());
    let alice_uuid = add(&fx.store, &alice);

    // Same workspace and email, new refresh token: the same account.
    let mut relogin = new_account("a2");
    relogin.email = Some("Alice@Example.com".into());
    relogin.account_id = Some("workspace-1".into());
    let outcome = fx.store.add_account(&relogin, at(2)).unwrap();
    assert_eq!(
        outcome,
        AddOutcome::Updated { uuid: alice_uuid.clone(), matched_by: MatchedBy::ProviderId }
    );

    // Same email, another workspace: another account (CLIProxyAPI #926).
    let mut other_workspace = new_account("a3");
    other_workspace.email = Some("alice@example.com".into());
    other_workspace.account_id = Some("workspace-2".into());
    assert!(matches!(
        fx.store.add_account(&other_workspace, at(3)).unwrap(),
        AddOutcome::Added { .. }
    ));

    // Same workspace, another person: another account.
    let mut bob = new_account("b1");
    bob.email = Some("bob@example.com".into());
    bob.account_id = Some("workspace-1".into());
    assert!(matches!(fx.store.add_account(&bob, at(4)).unwrap(), AddOutcome::Added { .. }));

    // Same email and no provider id on the new side: the first account with that email.
    let mut by_email = new_account("a4");
    by_email.email = Some("bob@example.com".into());
    assert!(matches!(
        fx.store.add_account(&by_email, at(5)).unwrap(),
        AddOutcome::Updated { matched_by: MatchedBy::Email, .. }
    ));
    assert_eq!(fx.store.load().unwrap().accounts.len(), 3);

    let empty_token = new_account("");
    assert!(
        fx.store
            .add_account(&empty_token, at(6))
            .unwrap_err()
            .to_string()
            .contains("refresh token")
    );
}

#[test]
fn remove_moves_the_active_pointer_and_unknown_ids_change_nothing() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    let second = add(&fx.store, &new_account("r2"));
    assert!(fx.store.remove_account(&first).unwrap());
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.accounts.len(), 1);
    assert_eq!(doc.active_account_uuid.as_deref(), Some(second.as_str()));
    let before = std::fs::read(fx.path()).unwrap();
    assert!(!fx.store.remove_account("unknown").unwrap());
    assert_eq!(std::fs::read(fx.path()).unwrap(), before);
}

#[test]
fn set_active_persists_and_refuses_unknown_ids() {
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    let second = add(&fx.store, &new_account("r2"));
    let accounts_before = fx.store.load().unwrap().accounts.clone();
    fx.store.set_active(Some(&second)).unwrap();
    let doc = fx.other_store().load().unwrap();
    assert_eq!(doc.active_account_uuid.as_deref(), Some(second.as_str()));
    assert_eq!(doc.accounts, accounts_before);
    assert!(fx.store.set_active(Some("unknown")).unwrap_err().is_unknown_account());
}

#[test]
fn clear_leaves_an_empty_version_1_pool() {
    let fx = Fixture::new();
    add(&fx.store, &new_account("r1"));
    fx.store.clear().unwrap();
    let doc = fx.store.load().unwrap();
    assert_eq!((doc.version, doc.accounts.len(), doc.active_account_uuid.clone()), (1, 0, None));
}

#[test]
fn parallel_threads_lose_no_increment() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    let store = Arc::new(fx.other_store());
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let store = Arc::clone(&store);
            let uuid = uuid.clone();
            std::thread::spawn(move || {
                store
                    .mutate(|doc| {
                        let account = store.account_mut(doc, &uuid)?;
                        account.consecutive_auth_failures += 1;
                        Ok(())
                    })
                    .unwrap();
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(fx.store.load().unwrap().account(&uuid).unwrap().consecutive_auth_failures, 10);
}

#[test]
fn sequential_increments_keep_version_and_active() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    for _ in 0..12 {
        fx.store.record_auth_failure(&uuid, &creds("r1"), AuthFailure::Transient, 100).unwrap();
    }
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.account(&uuid).unwrap().consecutive_auth_failures, 12);
    assert_eq!((doc.version, doc.active_account_uuid.as_deref()), (1, Some(uuid.as_str())));
}

fn patch(access: &str, refresh: Option<&str>) -> CredentialPatch {
    CredentialPatch {
        access_token: Secret::new(access),
        expires_at: at(2_000_000_000_000),
        refresh_token: refresh.map(Secret::new),
        account_uuid: Some("anthropic-account".into()),
        account_id: None,
        email: None,
    }
}

#[test]
fn patch_credentials_is_a_compare_and_swap() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    fx.store.record_auth_failure(&uuid, &creds("r1"), AuthFailure::Transient, 5).unwrap();

    let applied = fx.store.patch_credentials(&uuid, &creds("r1"), patch("a2", Some("r2"))).unwrap();
    let CasOutcome::Applied(now_stored) = applied else {
        panic!("expected Applied, got {applied:?}")
    };
    assert_eq!(now_stored.refresh_token.expose(), "r2");

    // A second refresher that started from r1 loses and learns the winner's tokens.
    let lost = fx.store.patch_credentials(&uuid, &creds("r1"), patch("a3", Some("r3"))).unwrap();
    assert_eq!(lost, CasOutcome::Conflict(now_stored.clone()));

    // No refresh token in the response: the old one stays.
    let kept = fx.store.patch_credentials(&uuid, &now_stored, patch("a4", None)).unwrap();
    let CasOutcome::Applied(after) = kept else { panic!("expected Applied") };
    assert_eq!(after.refresh_token.expose(), "r2");
    assert_eq!(after.access_token.unwrap().expose(), "a4");

    let account = fx.store.load().unwrap().account(&uuid).unwrap().clone();
    assert_eq!(account.consecutive_auth_failures, 0);
    assert_eq!(account.account_uuid.as_deref(), Some("anthropic-account"));
    assert_eq!(account.uuid.as_deref(), Some(uuid.as_str()), "the local id never changes (D4)");
}

#[test]
fn auth_failures_on_stale_credentials_are_ignored() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    fx.store.patch_credentials(&uuid, &creds("r1"), patch("a2", Some("r2"))).unwrap();
    let outcome =
        fx.store.record_auth_failure(&uuid, &creds("r1"), AuthFailure::Permanent, 1).unwrap();
    assert_eq!(outcome, AuthFailureOutcome::Stale);
    assert!(!fx.store.load().unwrap().account(&uuid).unwrap().is_auth_disabled);
}

#[test]
fn transient_failures_never_disable_the_last_usable_account() {
    let fx = Fixture::new();
    let only = add(&fx.store, &new_account("r1"));
    for expected in 1..=5 {
        let outcome =
            fx.store.record_auth_failure(&only, &creds("r1"), AuthFailure::Transient, 2).unwrap();
        assert_eq!(outcome, AuthFailureOutcome::Counted { failures: expected });
    }
    let revoked =
        fx.store.record_auth_failure(&only, &creds("r1"), AuthFailure::Revoked, 2).unwrap();
    assert_eq!(revoked, AuthFailureOutcome::Counted { failures: 6 });
}

#[test]
fn transient_failures_disable_at_the_limit_when_another_account_remains() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    add(&fx.store, &new_account("r2"));
    let one =
        fx.store.record_auth_failure(&first, &creds("r1"), AuthFailure::Transient, 2).unwrap();
    assert_eq!(one, AuthFailureOutcome::Counted { failures: 1 });
    let two =
        fx.store.record_auth_failure(&first, &creds("r1"), AuthFailure::Transient, 2).unwrap();
    assert_eq!(two, AuthFailureOutcome::Disabled { reason: "2 consecutive auth failures".into() });
    let doc = fx.store.load().unwrap();
    assert_eq!(doc.accounts.len(), 2, "disabled, never deleted");
    assert!(doc.account(&first).unwrap().is_auth_disabled);
}

#[test]
fn permanent_failures_disable_even_the_last_account_and_enabling_clears_it() {
    let fx = Fixture::new();
    let only = add(&fx.store, &new_account("r1"));
    let outcome =
        fx.store.record_auth_failure(&only, &creds("r1"), AuthFailure::Permanent, 3).unwrap();
    assert!(
        matches!(outcome, AuthFailureOutcome::Disabled { ref reason } if reason.contains("needs login"))
    );
    let account = fx.store.load().unwrap().account(&only).unwrap().clone();
    assert!(account.is_auth_disabled && !account.is_eligible());
    fx.store.set_enabled(&only, true).unwrap();
    let account = fx.store.load().unwrap().account(&only).unwrap().clone();
    assert!(account.is_eligible());
    assert_eq!((account.consecutive_auth_failures, account.auth_disabled_reason), (0, None));
}

#[test]
fn revoked_disables_when_another_account_remains_and_drops_the_access_token() {
    let fx = Fixture::new();
    let first = add(&fx.store, &new_account("r1"));
    add(&fx.store, &new_account("r2"));
    let outcome =
        fx.store.record_auth_failure(&first, &creds("r1"), AuthFailure::Revoked, 3).unwrap();
    assert!(
        matches!(outcome, AuthFailureOutcome::Disabled { ref reason } if reason.contains("revoked"))
    );
    let account = fx.store.load().unwrap().account(&first).unwrap().clone();
    assert_eq!((account.access_token, account.expires_at), (None, None));
}

#[test]
fn usage_never_erases_a_rate_limit_and_success_clears_it() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    fx.store.record_rate_limit(&uuid, at(50_000)).unwrap();
    let usage = UsageLimits {
        five_hour: Some(UsageWindow {
            utilization: 20.0,
            resets_at: None,
            extra: mac_storage::UnknownFields::new(),
        }),
        ..UsageLimits::default()
    };
    fx.store.record_usage(&uuid, usage.clone(), at(40_000)).unwrap();
    let account = fx.store.load().unwrap().account(&uuid).unwrap().clone();
    assert_eq!(account.rate_limit_reset_at, Some(at(50_000)));
    assert_eq!((account.cached_usage, account.cached_usage_at), (Some(usage), Some(at(40_000))));

    assert_eq!(fx.store.record_success(&uuid, at(60_000)).unwrap(), SuccessOutcome::Written);
    let account = fx.store.load().unwrap().account(&uuid).unwrap().clone();
    assert_eq!((account.rate_limit_reset_at, account.last_used), (None, at(60_000)));
}

#[test]
fn epoch_of_a_new_account_is_the_given_now() {
    let fx = Fixture::new();
    let uuid = add(&fx.store, &new_account("r1"));
    let account = fx.store.load().unwrap().account(&uuid).unwrap().clone();
    assert_eq!(
        (account.added_at, account.last_used),
        (EpochMs::from_millis(1_000), EpochMs::from_millis(1_000))
    );
    assert!(account.enabled);
}
