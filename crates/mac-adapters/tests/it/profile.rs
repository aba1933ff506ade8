//! Profiles and plans, with the seed's plan labels.

use mac_adapters::jwt::{AUTH_CLAIM, PROFILE_CLAIM};
use mac_adapters::{Profile, ProfileError, codex_profile, parse_anthropic_profile};
use mac_storage::Secret;
use serde_json::json;

use crate::jwt;

fn anthropic(body: &serde_json::Value) -> Result<Profile, ProfileError> {
    parse_anthropic_profile(body.to_string().as_bytes())
}

fn profile(email: Option<&str>, plan: &str) -> Profile {
    Profile { email: email.map(str::to_owned), plan_tier: plan.to_owned(), ..Profile::default() }
}

#[test]
fn anthropic_plan_from_the_flags() {
    let max = json!({"account": {"uuid": "u-1", "email": "a@example.com",
        "has_claude_max": true, "has_claude_pro": true, "full_name": "A"},
        "organization": {"organization_type": "claude_max"}});
    assert_eq!(
        anthropic(&max).unwrap(),
        Profile { account_uuid: Some("u-1".into()), ..profile(Some("a@example.com"), "max") }
    );
    let pro = json!({"account": {"email": "b@example.com", "has_claude_pro": true}});
    assert_eq!(anthropic(&pro).unwrap(), profile(Some("b@example.com"), "pro"));
    let free = json!({"account": {"has_claude_max": null, "email": null}});
    assert_eq!(anthropic(&free).unwrap(), profile(None, "free"));
    assert_eq!(anthropic(&json!({"account": {}})).unwrap(), profile(None, "free"));
}

#[test]
fn anthropic_malformed_profiles_are_typed_errors() {
    let shape = |field, problem| ProfileError::Shape { field, problem };
    for (body, expected) in [
        (json!({}), shape("account", "is missing")),
        (json!({"account": "x"}), shape("account", "is not an object")),
        (
            json!({"account": {"has_claude_max": "yes"}}),
            shape("account.has_claude_max", "is not a boolean"),
        ),
        (
            json!({"account": {"has_claude_pro": 1}}),
            shape("account.has_claude_pro", "is not a boolean"),
        ),
        (json!({"account": {"email": 5}}), shape("account.email", "is not a string")),
        (json!([1]), shape(".", "is not a JSON object")),
    ] {
        assert_eq!(anthropic(&body).unwrap_err(), expected, "{body}");
    }
    let err = parse_anthropic_profile(b"<html>").unwrap_err();
    assert_eq!(err, ProfileError::NotJson { line: 1, column: 1 });
    assert_eq!(
        err.to_string(),
        "the anthropic profile response is not JSON (error at line 1 column 1)"
    );
    assert_eq!(
        shape("account.email", "is not a string").to_string(),
        "the anthropic profile response's `account.email` is not a string"
    );
}

#[test]
fn codex_profile_from_the_access_token() {
    let token = jwt(&json!({PROFILE_CLAIM: {"email": "c@example.com"},
        AUTH_CLAIM: {"chatgpt_plan_type": "Pro", "chatgpt_account_id": "acct"}}));
    assert_eq!(
        codex_profile(&Secret::new(token)),
        Profile { account_id: Some("acct".into()), ..profile(Some("c@example.com"), "pro") }
    );
    let plus = jwt(&json!({AUTH_CLAIM: {"chatgpt_plan_type": "plus"}, "email": "top@example.com"}));
    assert_eq!(codex_profile(&Secret::new(plus)), profile(Some("top@example.com"), "plus"));
    assert_eq!(codex_profile(&Secret::new(jwt(&json!({"sub": "x"})))), profile(None, "free"));
    assert_eq!(codex_profile(&Secret::new("not-a-jwt")), profile(None, "free"));
}
