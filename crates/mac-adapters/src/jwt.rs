//! Claims read from Codex's JWTs without verifying them (D21): the ChatGPT account id, the email
//! and the plan. The signature is not checked because the tokens come straight from the token
//! endpoint over TLS and are only read for labels and the `ChatGPT-Account-Id` header; the provider
//! verifies them on every request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use serde_json::{Map, Value};

/// The claim OpenAI nests its auth facts under.
pub const AUTH_CLAIM: &str = "https://api.openai.com/auth";

/// The claim OpenAI nests the profile (email) under.
pub const PROFILE_CLAIM: &str = "https://api.openai.com/profile";

/// The payload (claims) of a JWT, unverified: the second `.`-separated part, base64url with or
/// without padding, must be a JSON object. Anything else is `None`.
pub fn decode_payload(token: &str) -> Option<Map<String, Value>> {
    let payload = token.split('.').nth(1).filter(|part| !part.is_empty())?;
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// The ChatGPT account id in one token's claims: `chatgpt_account_id`, else
/// `https://api.openai.com/auth`.`chatgpt_account_id`, else `organizations[0].id`. Empty
/// strings do not count.
pub fn account_id_from_claims(claims: &Map<String, Value>) -> Option<String> {
    non_empty(claims.get("chatgpt_account_id"))
        .or_else(|| non_empty(claims.get(AUTH_CLAIM)?.get("chatgpt_account_id")))
        .or_else(|| non_empty(claims.get("organizations")?.get(0)?.get("id")))
}

/// The ChatGPT account id of a token response: from the id token's claims first, then the
/// access token's, the seed's order.
pub fn chatgpt_account_id(id_token: Option<&str>, access_token: Option<&str>) -> Option<String> {
    [id_token, access_token]
        .into_iter()
        .flatten()
        .find_map(|token| account_id_from_claims(&decode_payload(token)?))
}

/// The email in a Codex token's claims: `https://api.openai.com/profile`.`email`, else the
/// top-level `email` claim.
pub fn email_from_claims(claims: &Map<String, Value>) -> Option<String> {
    non_empty(claims.get(PROFILE_CLAIM).and_then(|profile| profile.get("email")))
        .or_else(|| non_empty(claims.get("email")))
}

/// The raw plan claim: `https://api.openai.com/auth`.`chatgpt_plan_type`. Normalize it with
/// [`derive_plan_tier`].
pub fn plan_from_claims(claims: &Map<String, Value>) -> Option<String> {
    non_empty(claims.get(AUTH_CLAIM)?.get("chatgpt_plan_type"))
}

/// When a JWT expires: its `exp` claim (epoch seconds). `None` when the token is not a JWT or
/// has no usable `exp`.
pub fn expiry(token: &str) -> Option<mac_storage::EpochMs> {
    let seconds = decode_payload(token)?.get("exp")?.as_f64()?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds < mac_storage::EPOCH_MS_THRESHOLD) {
        return None;
    }
    mac_storage::epoch_from_number(seconds)
}

/// A plan tier as stored: lower-cased and trimmed; missing or empty is `free`.
pub fn derive_plan_tier(plan: Option<&str>) -> String {
    match plan.map(str::trim) {
        Some(plan) if !plan.is_empty() => plan.to_lowercase(),
        _ => "free".to_owned(),
    }
}

fn non_empty(value: Option<&Value>) -> Option<String> {
    value?.as_str().filter(|text| !text.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
    use serde_json::json;

    use super::*;

    fn jwt(claims: &Value) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    #[test]
    fn expiry_reads_the_exp_claim_in_seconds() {
        assert_eq!(
            expiry(&jwt(&json!({"exp": 1_800_000_000}))),
            Some(mac_storage::EpochMs::from_millis(1_800_000_000_000))
        );
        for claims in [json!({}), json!({"exp": "soon"}), json!({"exp": -5}), json!({"exp": 1e300})]
        {
            assert_eq!(expiry(&jwt(&claims)), None, "{claims}");
        }
        assert_eq!(expiry("not a jwt"), None);
    }

    #[test]
    fn payloads_decode_with_or_without_padding() {
        let claims = json!({"sub": "user", "n": 1});
        // `{"sub":"user","n":1}` is 20 bytes: unpadded it ends in one `=` short.
        let padded = format!("x.{}.y", URL_SAFE.encode(claims.to_string()));
        assert!(padded.contains('='));
        for token in [jwt(&claims), padded, format!("x.{}", URL_SAFE_NO_PAD.encode("{}"))] {
            assert!(decode_payload(&token).is_some(), "{token}");
        }
        assert_eq!(decode_payload(&jwt(&claims)).unwrap(), claims.as_object().unwrap().clone());
    }

    #[test]
    fn bad_tokens_are_none() {
        let not_object = format!("x.{}.y", URL_SAFE_NO_PAD.encode("[1]"));
        let not_json = format!("x.{}.y", URL_SAFE_NO_PAD.encode("nope"));
        for token in ["", "no-dots", "header.", "a..c", "a.!!!.c", &not_object, &not_json] {
            assert_eq!(decode_payload(token), None, "{token:?}");
        }
    }

    #[test]
    fn account_id_follows_the_seed_order() {
        let direct = jwt(&json!({"chatgpt_account_id": "direct",
            AUTH_CLAIM: {"chatgpt_account_id": "nested"}, "organizations": [{"id": "org"}]}));
        let nested = jwt(&json!({AUTH_CLAIM: {"chatgpt_account_id": "nested"},
            "organizations": [{"id": "org"}]}));
        let org =
            jwt(&json!({"chatgpt_account_id": "", "organizations": [{"id": "org"}, {"id": "x"}]}));
        let none = jwt(&json!({"sub": "x", "organizations": []}));
        let id =
            |id_token: Option<&str>, access: Option<&str>| chatgpt_account_id(id_token, access);
        assert_eq!(id(Some(&direct), Some(&org)).as_deref(), Some("direct"));
        assert_eq!(id(Some(&nested), None).as_deref(), Some("nested"));
        assert_eq!(id(Some(&org), Some(&direct)).as_deref(), Some("org"));
        assert_eq!(id(None, Some(&nested)).as_deref(), Some("nested"));
        assert_eq!(id(Some(&none), Some(&direct)).as_deref(), Some("direct"));
        assert_eq!(id(Some("garbage"), Some(&org)).as_deref(), Some("org"));
        assert_eq!(id(Some(&none), Some("garbage")), None);
        assert_eq!(id(None, None), None);
    }

    #[test]
    fn email_and_plan_claims() {
        let claims = json!({"email": "top@example.com",
            PROFILE_CLAIM: {"email": "profile@example.com"},
            AUTH_CLAIM: {"chatgpt_plan_type": " Plus "}});
        let claims = claims.as_object().unwrap();
        assert_eq!(email_from_claims(claims).as_deref(), Some("profile@example.com"));
        assert_eq!(plan_from_claims(claims).as_deref(), Some(" Plus "));
        let top = json!({"email": "top@example.com"});
        assert_eq!(email_from_claims(top.as_object().unwrap()).as_deref(), Some("top@example.com"));
        assert_eq!(plan_from_claims(top.as_object().unwrap()), None);
    }

    #[test]
    fn plan_tiers_are_normalized() {
        for (raw, tier) in [
            (Some("pro"), "pro"),
            (Some("plus"), "plus"),
            (Some(" PRO "), "pro"),
            (Some("free"), "free"),
            (Some(""), "free"),
            (Some("   "), "free"),
            (None, "free"),
        ] {
            assert_eq!(derive_plan_tier(raw), tier, "{raw:?}");
        }
    }
}
