//! Token request bodies, grants and the refresh classification (SEED §2.8, §3.13; D12).

use std::time::Duration;

use mac_adapters::jwt::AUTH_CLAIM;
use mac_adapters::{
    CONTENT_TYPE_FORM, CONTENT_TYPE_JSON, CodeExchange, FailureKind, PermanentReason,
    ProviderDescriptor, RefreshFailure, TokenGrant, code_exchange_request, parse_token_response,
    refresh_request,
};
use mac_storage::{CredentialPatch, EpochMs, Secret};
use serde_json::{Value, json};
use url::Url;

use crate::{NOW, jwt};

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn refresh_bodies_per_provider() {
    let token = Secret::new("rt-1&x=y");
    let anthropic = refresh_request(&ProviderDescriptor::anthropic(), &token);
    assert_eq!(anthropic.content_type, CONTENT_TYPE_JSON);
    assert_eq!(
        serde_json::from_slice::<Value>(&anthropic.body).unwrap(),
        json!({"grant_type": "refresh_token", "refresh_token": "rt-1&x=y",
               "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
               "scope": "user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload"}),
        "Claude Code 2.1.197 asks for its scopes again on every refresh"
    );
    // Codex CLI refreshes with JSON (codex-rs/login/src/auth/manager.rs), unlike its code
    // exchange, which is a form.
    let (content_type, body) = refresh_request(&ProviderDescriptor::codex(), &token).into_parts();
    assert_eq!(content_type, "application/json");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"client_id": "app_EMoamEEZ73f0CkXaXp7hrann", "grant_type": "refresh_token",
               "refresh_token": "rt-1&x=y"})
    );
}

#[test]
fn code_exchange_bodies_per_provider() {
    let code = Secret::new("the-code");
    let verifier = Secret::new("v".repeat(64));
    let anthropic = ProviderDescriptor::anthropic();
    let exchange = CodeExchange {
        code: &code,
        state: "st",
        verifier: &verifier,
        redirect_uri: &anthropic.endpoints.redirect_uri,
    };
    let body = code_exchange_request(&anthropic, &exchange);
    assert_eq!(body.content_type, CONTENT_TYPE_JSON);
    assert_eq!(
        serde_json::from_slice::<Value>(&body.body).unwrap(),
        json!({"code": "the-code", "state": "st", "grant_type": "authorization_code",
               "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
               "redirect_uri": "https://platform.claude.com/oauth/code/callback",
               "code_verifier": "v".repeat(64)})
    );
    let redirect = Url::parse("http://localhost:1456/auth/callback").unwrap();
    let exchange = CodeExchange { redirect_uri: &redirect, ..exchange };
    let body = code_exchange_request(&ProviderDescriptor::codex(), &exchange);
    assert_eq!(body.content_type, CONTENT_TYPE_FORM);
    assert_eq!(
        form(&body.body),
        pairs(&[
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("redirect_uri", "http://localhost:1456/auth/callback"),
            ("client_id", "app_EMoamEEZ73f0CkXaXp7hrann"),
            ("code_verifier", &"v".repeat(64)),
        ])
    );
    let debug = format!("{body:?}");
    assert!(!debug.contains("the-code") && !debug.contains("vvvv"), "{debug}");
}

fn parse(
    descriptor: &ProviderDescriptor,
    status: u16,
    body: &str,
) -> Result<TokenGrant, RefreshFailure> {
    parse_token_response(descriptor, status, body.as_bytes(), NOW)
}

#[test]
fn anthropic_grant_with_account() {
    let body = json!({"access_token": "at-1", "refresh_token": "rt-2", "expires_in": 3600,
        "token_type": "Bearer",
        "account": {"uuid": "acc-uuid", "email_address": "a@example.com"}});
    let grant = parse(&ProviderDescriptor::anthropic(), 200, &body.to_string()).unwrap();
    assert_eq!(
        grant,
        TokenGrant {
            access_token: Secret::new("at-1"),
            refresh_token: Some(Secret::new("rt-2")),
            expires_at: NOW.saturating_add(Duration::from_secs(3600)),
            id_token: None,
            account_uuid: Some("acc-uuid".into()),
            email: Some("a@example.com".into()),
            account_id: None,
        }
    );
    let debug = format!("{grant:?}");
    assert!(!debug.contains("at-1") && !debug.contains("rt-2"), "{debug}");
    assert_eq!(
        grant.into_patch(),
        CredentialPatch {
            access_token: Secret::new("at-1"),
            expires_at: EpochMs::from_millis(NOW.as_millis() + 3_600_000),
            refresh_token: Some(Secret::new("rt-2")),
            account_uuid: Some("acc-uuid".into()),
            account_id: None,
            email: Some("a@example.com".into()),
        }
    );
}

#[test]
fn optional_fields_absent_keep_the_old_refresh_token() {
    let grant =
        parse(&ProviderDescriptor::anthropic(), 200, r#"{"access_token":"at","expires_in":60.5}"#)
            .unwrap();
    assert_eq!(
        grant.into_patch(),
        CredentialPatch {
            access_token: Secret::new("at"),
            expires_at: EpochMs::from_millis(NOW.as_millis() + 60_500),
            refresh_token: None,
            account_uuid: None,
            account_id: None,
            email: None,
        }
    );
    let grant = parse(
        &ProviderDescriptor::codex(),
        201,
        r#"{"access_token":"not-a-jwt","refresh_token":"","id_token":null,"expires_in":"120"}"#,
    )
    .unwrap();
    assert_eq!((grant.refresh_token, grant.account_id, grant.email), (None, None, None));
    assert_eq!(grant.expires_at, NOW.saturating_add(Duration::from_secs(120)));
    // An absurd lifetime is cut to a year, so `expires_at` stays a valid file value.
    for huge in ["1e300", "18446744073709551615", "31708800"] {
        let body = format!(r#"{{"access_token":"at","expires_in":{huge}}}"#);
        let grant = parse(&ProviderDescriptor::anthropic(), 200, &body).unwrap();
        assert_eq!(
            grant.expires_at,
            NOW.saturating_add(Duration::from_secs(366 * 86_400)),
            "{huge}"
        );
    }
}

#[test]
fn codex_grant_reads_the_jwts_and_defaults_expires_in() {
    let id_token = jwt(&json!({"email": "c@example.com",
        AUTH_CLAIM: {"chatgpt_account_id": "from-id"}}));
    let access = jwt(&json!({"chatgpt_account_id": "from-access",
        "https://api.openai.com/profile": {"email": "p@example.com"}}));
    let body = json!({"access_token": access, "refresh_token": "rt", "id_token": id_token});
    let grant = parse(&ProviderDescriptor::codex(), 200, &body.to_string()).unwrap();
    assert_eq!(grant.expires_at, NOW.saturating_add(Duration::from_secs(3600)));
    assert_eq!(grant.account_id.as_deref(), Some("from-id"));
    assert_eq!(grant.email.as_deref(), Some("c@example.com"));
    assert_eq!(grant.id_token, Some(Secret::new(id_token)));
    // Without an id token, the access token's claims answer.
    let body = json!({"access_token": access, "expires_in": 10});
    let grant = parse(&ProviderDescriptor::codex(), 200, &body.to_string()).unwrap();
    assert_eq!(grant.account_id.as_deref(), Some("from-access"));
    assert_eq!(grant.email.as_deref(), Some("p@example.com"));
    assert_eq!(grant.account_uuid, None);
}

/// Codex CLI's refresh answer is read without `expires_in`; the access token's own `exp` is
/// when it expires (Codex CLI judges staleness by it too). 3600 s only without either.
#[test]
fn a_codex_grant_without_expires_in_expires_with_its_access_token() {
    let exp = NOW.as_millis() / 1000 + 10 * 24 * 3600;
    let access = jwt(&json!({"exp": exp, "chatgpt_account_id": "a"}));
    let body = json!({"access_token": access, "refresh_token": "rt"});
    let grant = parse(&ProviderDescriptor::codex(), 200, &body.to_string()).unwrap();
    assert_eq!(grant.expires_at, NOW.saturating_add(Duration::from_secs(10 * 24 * 3600)));
    // An `exp` already past is not believed.
    let stale = jwt(&json!({"exp": NOW.as_millis() / 1000 - 5}));
    let body = json!({"access_token": stale});
    let grant = parse(&ProviderDescriptor::codex(), 200, &body.to_string()).unwrap();
    assert_eq!(grant.expires_at, NOW.saturating_add(Duration::from_secs(3600)));
    // `expires_in`, when sent, wins.
    let body = json!({"access_token": access, "expires_in": 60});
    let grant = parse(&ProviderDescriptor::codex(), 200, &body.to_string()).unwrap();
    assert_eq!(grant.expires_at, NOW.saturating_add(Duration::from_secs(60)));
}

#[track_caller]
fn check(status: u16, body: &[u8], kind: FailureKind, code: Option<&str>) -> RefreshFailure {
    for descriptor in [ProviderDescriptor::anthropic(), ProviderDescriptor::codex()] {
        let failure = parse_token_response(&descriptor, status, body, NOW).unwrap_err();
        assert_eq!(
            (failure.kind, failure.status, failure.error_code.as_deref()),
            (kind, Some(status), code),
            "{status} {}: {}",
            String::from_utf8_lossy(body),
            failure.message
        );
        assert_eq!(failure.is_permanent(), matches!(kind, FailureKind::Permanent(_)));
    }
    parse_token_response(&ProviderDescriptor::codex(), status, body, NOW).unwrap_err()
}

fn permanent(reason: PermanentReason) -> FailureKind {
    FailureKind::Permanent(reason)
}

#[test]
fn permanent_needs_an_oauth_code_in_the_body() {
    use PermanentReason::*;
    let cases: &[(u16, &str, PermanentReason, &str)] = &[
        (
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid 'refresh_token' in request."}"#,
            InvalidGrant,
            "invalid_grant",
        ),
        (401, r#"{"error":"INVALID_GRANT"}"#, InvalidGrant, "INVALID_GRANT"),
        (401, r#"{"error":"invalid_client"}"#, InvalidClient, "invalid_client"),
        (400, r#"{"error":"unauthorized_client"}"#, UnauthorizedClient, "unauthorized_client"),
        (400, r#"{"error":"invalid_scope"}"#, InvalidScope, "invalid_scope"),
        (403, r#"{"error":"access_denied"}"#, AccessDenied, "access_denied"),
        (
            401,
            r#"{"error":{"message":"Your refresh token has already been used","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}"#,
            RefreshTokenReused,
            "refresh_token_reused",
        ),
        (
            401,
            r#"{"error":{"code":"refresh_token_expired","message":"expired"}}"#,
            RefreshTokenExpired,
            "refresh_token_expired",
        ),
        (
            401,
            r#"{"error":{"code":"refresh_token_invalidated"}}"#,
            Revoked,
            "refresh_token_invalidated",
        ),
        (400, r#"{"error":{"type":"invalid_grant","message":"x"}}"#, InvalidGrant, "invalid_grant"),
        (400, r#"{"code":"invalid_refresh_token"}"#, InvalidGrant, "invalid_refresh_token"),
    ];
    for (status, body, reason, code) in cases {
        check(*status, body.as_bytes(), permanent(*reason), Some(code));
    }
}

#[test]
fn permanent_by_message_pattern() {
    use PermanentReason::*;
    let cases: &[(&str, PermanentReason, Option<&str>)] = &[
        (
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"Refresh token not found or invalid"}}"#,
            InvalidGrant,
            Some("invalid_request_error"),
        ),
        (
            r#"{"error":"invalid_request","error_description":"The refresh token has expired"}"#,
            RefreshTokenExpired,
            Some("invalid_request"),
        ),
        (r#"{"message":"refresh_token was revoked"}"#, Revoked, None),
        (r#"{"error":{"message":"This refresh token is no longer valid."}}"#, InvalidGrant, None),
    ];
    for (body, reason, code) in cases {
        check(400, body.as_bytes(), permanent(*reason), *code);
    }
}

#[test]
fn everything_else_is_transient() {
    let t = FailureKind::Transient;
    for status in [400, 401, 403, 404, 500, 502, 503] {
        check(status, b"", t, None);
        check(status, b"{}", t, None);
    }
    check(
        400,
        br#"{"error":"invalid_request","error_description":"missing parameter"}"#,
        t,
        Some("invalid_request"),
    );
    check(
        401,
        br#"{"error":{"type":"authentication_error","message":"auth header invalid"}}"#,
        t,
        Some("authentication_error"),
    );
    // Server trouble is never evidence, whatever the body says.
    check(500, br#"{"error":"invalid_grant"}"#, t, Some("invalid_grant"));
    check(503, br#"{"error":"invalid_grant"}"#, t, Some("invalid_grant"));
    check(429, br#"{"error":"invalid_grant"}"#, t, Some("invalid_grant"));
    check(408, br#"{"error":"invalid_grant"}"#, t, Some("invalid_grant"));
    check(302, br#"{"error":"invalid_grant"}"#, t, Some("invalid_grant"));
    // Not JSON: HTML, truncated, not UTF-8, not an object.
    check(403, b"<html><body>invalid_grant: refresh token revoked</body></html>", t, None);
    check(400, br#"{"error":"invalid_gr"#, t, None);
    check(400, b"\xff\xfe{\"error\":\"invalid_grant\"}", t, None);
    check(400, br#"["invalid_grant"]"#, t, None);
    // A code that is not a plain word is not a code.
    check(400, br#"{"error":"invalid grant with spaces"}"#, t, None);
}

#[test]
fn malformed_success_is_transient_with_a_clear_message() {
    let t = FailureKind::Transient;
    for (body, says) in [
        (&br#"{"refresh_token":"rt-secret","expires_in":3600}"#[..], "has no access_token"),
        (br#"{"access_token":"","expires_in":3600}"#, "has no access_token"),
        (br#"{"access_token":5,"expires_in":3600}"#, "has no access_token"),
        (b"<html>ok</html>", "is not JSON"),
        (br#"{"access_token":"at-sec"#, "is not JSON"),
        (b"\xff", "is not UTF-8"),
        (b"[]", "not an object"),
        (br#"{"error":"invalid_grant"}"#, "has no access_token"),
    ] {
        let failure = check(200, body, t, None);
        assert!(
            failure.message.contains(says),
            "{}: {}",
            String::from_utf8_lossy(body),
            failure.message
        );
        assert!(failure.message.contains("HTTP 200"), "{}", failure.message);
        assert!(!failure.message.contains("secret"), "{}", failure.message);
    }
}

#[test]
fn a_grant_without_a_readable_expiry_is_kept_with_a_short_one() {
    // Refusing it would throw away a rotated refresh token the provider may already consider
    // the only valid one.
    let anthropic = ProviderDescriptor::anthropic();
    let short = NOW.saturating_add(mac_adapters::UNKNOWN_EXPIRY_FALLBACK);
    for body in [
        &br#"{"access_token":"at","refresh_token":"rt2"}"#[..],
        br#"{"access_token":"at","refresh_token":"rt2","expires_in":-1}"#,
        br#"{"access_token":"at","refresh_token":"rt2","expires_in":"soon"}"#,
    ] {
        let grant = parse_token_response(&anthropic, 200, body, NOW).unwrap();
        assert_eq!(grant.expires_at, short, "{}", String::from_utf8_lossy(body));
        assert_eq!(grant.refresh_token.unwrap().expose(), "rt2");
    }
    let codex =
        parse_token_response(&ProviderDescriptor::codex(), 200, br#"{"access_token":"at"}"#, NOW)
            .unwrap();
    assert_eq!(codex.expires_at, NOW.saturating_add(mac_adapters::CODEX_DEFAULT_EXPIRES_IN));
}

#[test]
fn messages_never_echo_tokens_or_raw_bodies() {
    let token = "sk-ant-ort01-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
    let body = json!({"error": "invalid_grant",
        "error_description": format!("refresh token {token} is invalid"),
        "refresh_token": token});
    let failure = check(
        400,
        body.to_string().as_bytes(),
        permanent(PermanentReason::InvalidGrant),
        Some("invalid_grant"),
    );
    assert_eq!(
        failure.message,
        "the token endpoint rejected the grant (HTTP 400, invalid_grant: refresh token [redacted] is invalid); log in again"
    );
    assert_eq!(failure.to_string(), failure.message);
    let html = format!("<html><p>{token}</p></html>");
    let failure = check(502, html.as_bytes(), FailureKind::Transient, None);
    assert_eq!(
        failure.message,
        "the token endpoint answered HTTP 502 and its body is not JSON; will retry"
    );
    let failure = check(503, b"{}", FailureKind::Transient, None);
    assert_eq!(
        failure.message,
        "the token endpoint answered HTTP 503 (no OAuth error in the body); will retry"
    );
    let long = json!({"error": "invalid_request", "error_description": "x ".repeat(500)});
    let failure =
        check(400, long.to_string().as_bytes(), FailureKind::Transient, Some("invalid_request"));
    assert!(failure.message.len() < 320, "{}", failure.message);
}

#[test]
fn failures_built_by_the_http_layer() {
    let missing = RefreshFailure::missing_refresh_token();
    assert_eq!(missing.permanent_reason(), Some(PermanentReason::MissingRefreshToken));
    assert!(PermanentReason::MissingRefreshToken.concerns_account());
    assert!(!PermanentReason::InvalidClient.concerns_account());
    let network = RefreshFailure::transient(None, "network error: connection refused");
    assert_eq!(network.permanent_reason(), None);
    assert_eq!(network.to_string(), "network error: connection refused");
    assert_eq!(PermanentReason::RefreshTokenReused.to_string(), "refresh_token_reused");
}
