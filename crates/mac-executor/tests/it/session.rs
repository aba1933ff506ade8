//! Session keys (D14) and the binding table: precedence of the sources, the
//! hash rule, bodies that are not JSON, expiry, the cap and forgetting an account.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use http::HeaderMap;
use mac_executor::{
    DEFAULT_SESSION_CAP, DEFAULT_SESSION_TTL, SessionBindings, SessionKey, derive_session_key,
};
use mac_storage::EpochMs;
use mac_test_support::fixtures::header_map;
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// A request's headers, as (name, value) pairs.
type Headers = Vec<(&'static str, &'static str)>;

/// The key of a request with these headers and this JSON body (or none).
fn key(headers: &[(&str, &str)], body: Option<&Value>) -> Option<String> {
    let headers = header_map(headers).unwrap();
    let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    derive_session_key(&headers, &body).map(SessionKey::into_string)
}

/// The first 16 hex digits of the SHA-256 of `text`.
fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).fold(String::new(), |mut hex, byte| {
        write!(hex, "{byte:02x}").unwrap();
        hex
    })
}

#[allow(clippy::unnecessary_wraps)] // what `derive_session_key` returns
fn first_message(text: &str) -> Option<String> {
    Some(format!("first-user-message#{}", hash(text)))
}

#[test]
fn the_hash_is_the_first_16_hex_digits_of_sha256() {
    // SHA-256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e…
    let body = json!({"messages": [{"role": "user", "content": "hello"}]});
    assert_eq!(key(&[], Some(&body)).as_deref(), Some("first-user-message#2cf24dba5fb0a30e"));
}

#[test]
fn key_precedence() {
    let full = json!({
        "prompt_cache_key": "pck",
        "metadata": {"user_id": "user_1_session_2"},
        "conversation": "conv_1",
        "messages": [{"role": "user", "content": "hello"}],
    });
    let without = |fields: &[&str]| {
        let mut body = full.clone();
        for field in fields {
            body.as_object_mut().unwrap().remove(*field);
        }
        body
    };
    let claude = ("x-claude-code-session-id", "cc-1");
    let codex = ("session_id", "sid-1");
    let cases: Vec<(Headers, Value, Option<String>)> = vec![
        (vec![codex, claude], full.clone(), Some("claude-code-session:cc-1".into())),
        (vec![codex], full.clone(), Some("session:sid-1".into())),
        (vec![("session-id", "sid-2")], full.clone(), Some("session:sid-2".into())),
        (
            vec![("session-id", "dash"), ("session_id", "underscore")],
            full.clone(),
            Some("session:underscore".into()),
        ),
        (vec![], full.clone(), Some("prompt-cache-key:pck".into())),
        (vec![], without(&["prompt_cache_key"]), Some("metadata-user-id:user_1_session_2".into())),
        (vec![], without(&["prompt_cache_key", "metadata"]), Some("conversation:conv_1".into())),
        (
            vec![],
            without(&["prompt_cache_key", "metadata", "conversation"]),
            first_message("hello"),
        ),
        (vec![], json!({}), None),
    ];
    for (index, (headers, body, expected)) in cases.into_iter().enumerate() {
        assert_eq!(key(&headers, Some(&body)), expected, "case {index}");
    }
}

#[test]
fn header_names_match_without_case_and_blank_values_are_skipped() {
    let body = json!({"prompt_cache_key": "  pck  "});
    let cases: Vec<(Headers, Option<&str>)> = vec![
        (vec![("X-Claude-Code-Session-Id", " cc ")], Some("claude-code-session:cc")),
        (vec![("SESSION_ID", "s")], Some("session:s")),
        // A blank header is no source: the next one decides.
        (vec![("x-claude-code-session-id", "  "), ("Session-Id", "s")], Some("session:s")),
        (
            vec![("x-claude-code-session-id", ""), ("x-claude-code-session-id", "two")],
            Some("claude-code-session:two"),
        ),
        (vec![("session_id", " ")], Some("prompt-cache-key:pck")),
        // Other headers are not sources.
        (vec![("x-session-id", "s"), ("conversation_id", "c")], Some("prompt-cache-key:pck")),
    ];
    for (index, (headers, expected)) in cases.into_iter().enumerate() {
        assert_eq!(key(&headers, Some(&body)).as_deref(), expected, "case {index}");
    }
}

#[test]
fn body_fields() {
    let cases: Vec<(Value, Option<String>)> = vec![
        // Blank or non-string values are skipped.
        (
            json!({"prompt_cache_key": " ", "metadata": {"user_id": 42}, "conversation_id": "c"}),
            Some("conversation:c".into()),
        ),
        // A Responses API conversation object.
        (json!({"conversation": {"id": "conv_9"}}), Some("conversation:conv_9".into())),
        // previous_response_id changes every turn: not a source.
        (json!({"previous_response_id": "resp_1", "input": "say hi"}), first_message("say hi")),
        (json!({"previous_response_id": "resp_1"}), None),
        // A long value is hashed, with the source still named.
        (
            json!({"prompt_cache_key": "k".repeat(300)}),
            Some(format!("prompt-cache-key#{}", hash(&"k".repeat(300)))),
        ),
        (
            json!({"prompt_cache_key": "k".repeat(256)}),
            Some(format!("prompt-cache-key:{}", "k".repeat(256))),
        ),
    ];
    for (index, (body, expected)) in cases.into_iter().enumerate() {
        assert_eq!(key(&[], Some(&body)), expected, "case {index}");
    }
}

#[test]
fn the_first_user_message_is_hashed_trimmed_and_joined() {
    let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
    let cases: Vec<(Value, Option<String>)> = vec![
        (user(json!("  hello\n")), first_message("hello")),
        // Text blocks, each trimmed, blank ones dropped, joined by a blank line; other blocks
        // are not text.
        (
            user(json!([
                {"type": "text", "text": " hello "},
                {"type": "image", "source": {"data": "…"}},
                {"type": "text", "text": "   "},
                {"type": "tool_result", "text": "not a text block"},
                {"type": "text", "text": "world", "cache_control": {"type": "ephemeral"}},
            ])),
            first_message("hello\n\nworld"),
        ),
        // A string and a single block give one key.
        (user(json!([{"type": "text", "text": "hello"}])), first_message("hello")),
        // The first user message, not a system or assistant one, and not a later user one.
        (
            json!({"messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "second"},
            ]}),
            first_message("first"),
        ),
        // No text in it: no key (later messages are not looked at).
        (
            json!({"messages": [
                {"role": "user", "content": [{"type": "image"}]},
                {"role": "user", "content": "later"},
            ]}),
            None,
        ),
        (user(json!("   ")), None),
        (user(json!(null)), None),
        (json!({"messages": [{"role": "assistant", "content": "hi"}]}), None),
        // Responses API: a string input is the user's text.
        (json!({"input": "  do it "}), first_message("do it")),
        // An input array: the first user item, string or input_text blocks.
        (
            json!({"input": [
                {"type": "message", "role": "developer", "content": "rules"},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "<env>"},
                    {"type": "input_text", "text": "fix the bug"},
                ]},
            ]}),
            first_message("<env>\n\nfix the bug"),
        ),
        (json!({"input": [{"role": "user", "content": "plain"}]}), first_message("plain")),
        (json!({"input": 7}), None),
    ];
    for (index, (body, expected)) in cases.into_iter().enumerate() {
        assert_eq!(key(&[], Some(&body)), expected, "case {index}");
    }
}

#[test]
fn bodies_that_are_not_json_objects_give_no_key() {
    let derive = |body: &[u8]| derive_session_key(&HeaderMap::new(), body);
    for body in [&b""[..], b"not json", b"{\"messages\": [", b"[1, 2]", b"\"hello\"", b"\xff\xfe"] {
        assert_eq!(derive(body), None, "{body:?}");
    }
    // Headers still count.
    let headers = header_map(&[("session_id", "s")]).unwrap();
    assert_eq!(
        derive_session_key(&headers, b"not json").map(SessionKey::into_string).as_deref(),
        Some("session:s")
    );
}

#[test]
fn sources_never_collide() {
    // A header whose value is the text of a message's hash key is still a header key.
    let text_key = key(&[], Some(&json!({"input": "hello"}))).unwrap();
    let header_key = key(&[("session_id", text_key.as_str())], None).unwrap();
    assert_ne!(header_key, text_key);
    // The same value from two sources gives two keys.
    let values = [
        key(&[("x-claude-code-session-id", "v")], None),
        key(&[("session_id", "v")], None),
        key(&[], Some(&json!({"prompt_cache_key": "v"}))),
        key(&[], Some(&json!({"metadata": {"user_id": "v"}}))),
        key(&[], Some(&json!({"conversation_id": "v"}))),
        key(&[], Some(&json!({"input": "v"}))),
        SessionKey::explicit("v").map(SessionKey::into_string),
    ];
    let distinct: std::collections::HashSet<_> = values.iter().collect();
    assert_eq!(distinct.len(), values.len(), "{values:?}");
}

/// The key of a first user message whose joined text is `text`, by the rule of D14: the whole
/// text up to 4 KiB, else its first 2 KiB, its last 2 KiB and its length (u64, little-endian).
fn sampled_message(text: &str) -> Option<String> {
    const SAMPLE: usize = 2048;
    let bytes = text.as_bytes();
    if bytes.len() <= 2 * SAMPLE {
        return first_message(text);
    }
    let mut input = bytes[..SAMPLE].to_vec();
    input.extend_from_slice(&bytes[bytes.len() - SAMPLE..]);
    input.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    let hex = Sha256::digest(&input).iter().take(8).fold(String::new(), |mut hex, byte| {
        write!(hex, "{byte:02x}").unwrap();
        hex
    });
    Some(format!("first-user-message#{hex}"))
}

#[test]
fn a_long_first_user_message_is_keyed_by_its_ends_and_length() {
    let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
    let long = |middle: char, len: usize| {
        format!("{}{}{}", "h".repeat(3000), middle.to_string().repeat(len), "t".repeat(3000))
    };
    let text = long('m', 40_000);
    let expected = sampled_message(&text);
    assert_ne!(expected, first_message(&text), "a long text is not hashed whole");
    assert_eq!(key(&[], Some(&user(json!(text)))), expected);
    // The middle is not read: a conversation that differs only there has the same key ...
    assert_eq!(key(&[], Some(&user(json!(long('n', 40_000))))), expected);
    // ... but a different length, head or tail gives another key.
    for other in [long('m', 40_001), format!("x{}", &text[1..]), format!("{}x", &text[1..])] {
        assert_ne!(key(&[], Some(&user(json!(other)))), expected);
    }
    // Escapes (a copied string) and a text right at the bound.
    let escaped = format!("{}\n\"{}", "a\n".repeat(3000), "b".repeat(5000));
    assert_eq!(key(&[], Some(&user(json!(escaped)))), sampled_message(&escaped));
    let bound = "z".repeat(4096);
    assert_eq!(key(&[], Some(&user(json!(bound)))), first_message(&bound));
    let over = "z".repeat(4097);
    assert_eq!(key(&[], Some(&user(json!(over)))), sampled_message(&over));
}

proptest! {
    /// Blocks of any length, with and without escapes, give the key of their joined text.
    #[test]
    fn blocks_are_keyed_as_their_joined_text(
        blocks in proptest::collection::vec((0usize..5000, any::<bool>(), any::<u8>()), 1..5),
    ) {
        let texts: Vec<String> = blocks
            .iter()
            .map(|(len, escaped, seed)| {
                let unit = if *escaped { "\n" } else { "a" };
                format!("{}{}{}", char::from(b'a' + seed % 26), unit.repeat(*len), char::from(b'z' - seed % 26))
            })
            .collect();
        let content: Vec<Value> = texts.iter().map(|text| json!({"type": "text", "text": text})).collect();
        let body = json!({"messages": [{"role": "user", "content": content}]});
        prop_assert_eq!(key(&[], Some(&body)), sampled_message(&texts.join("\n\n")));
    }
}

#[test]
fn explicit_keys() {
    let key = SessionKey::explicit(" pinned ").unwrap();
    assert_eq!(key.as_str(), "explicit:pinned");
    assert_eq!(key.to_string(), "explicit:pinned");
    assert_eq!(format!("{key:?}"), "SessionKey(\"explicit:pinned\")");
    assert_eq!(SessionKey::explicit("  "), None);
}

// ---------------------------------------------------------------------------------------------
// Bindings

fn t(ms: i64) -> EpochMs {
    EpochMs::from_millis(1_773_200_000_000 + ms)
}

const TTL: Duration = Duration::from_secs(100);

#[test]
fn defaults_are_six_hours_and_two_thousand() {
    let bindings = SessionBindings::default();
    assert_eq!((bindings.ttl(), bindings.cap()), (Duration::from_secs(6 * 3600), 2_000));
    assert_eq!((DEFAULT_SESSION_TTL, DEFAULT_SESSION_CAP), (bindings.ttl(), bindings.cap()));
    assert!(bindings.is_empty());
}

#[test]
fn a_binding_expires_ttl_after_its_last_use() {
    let mut bindings = SessionBindings::new(TTL, 10);
    bindings.bind("s", "a", t(0));
    assert_eq!(bindings.get("s", t(99_999)), Some("a"));
    assert_eq!(bindings.get("s", t(100_000)), None);
    assert_eq!(bindings.len(), 0, "an expired binding is dropped when read");
    assert_eq!(bindings.get("s", t(0)), None, "and stays gone");
    // A reuse (bind again) restarts the clock; a rebind moves the session.
    bindings.bind("s", "a", t(0));
    bindings.bind("s", "a", t(50_000));
    assert_eq!(bindings.get("s", t(149_999)), Some("a"));
    bindings.bind("s", "b", t(149_999));
    assert_eq!(bindings.get("s", t(249_998)), Some("b"));
    assert_eq!(bindings.len(), 1);
    // A binding from the future (another clock) is alive.
    bindings.bind("f", "a", t(1_000_000));
    assert_eq!(bindings.get("f", t(0)), Some("a"));
}

#[test]
fn binding_drops_the_expired_ones() {
    let mut bindings = SessionBindings::new(TTL, 10);
    bindings.bind("old", "a", t(0));
    bindings.bind("newer", "a", t(50_000));
    bindings.bind("new", "b", t(120_000));
    assert_eq!(bindings.len(), 2);
    assert_eq!(bindings.get("newer", t(120_000)), Some("a"));
}

#[test]
fn the_cap_evicts_the_oldest_by_last_use() {
    let mut bindings = SessionBindings::new(Duration::from_secs(3600), 3);
    bindings.bind("k1", "a", t(1));
    bindings.bind("k2", "a", t(2));
    bindings.bind("k3", "a", t(3));
    bindings.bind("k1", "a", t(4)); // a reuse: k1 is now the newest
    bindings.bind("k4", "a", t(5));
    let alive =
        |b: &mut SessionBindings| ["k1", "k2", "k3", "k4", "k5"].map(|k| b.get(k, t(10)).is_some());
    assert_eq!(alive(&mut bindings), [true, false, true, true, false]);
    bindings.bind("k5", "a", t(6));
    assert_eq!(alive(&mut bindings), [true, false, false, true, true]);
    // Equal times: the earliest bound goes first.
    let mut ties = SessionBindings::new(Duration::from_secs(3600), 2);
    for k in ["x", "y", "z"] {
        ties.bind(k, "a", t(7));
    }
    assert_eq!(["x", "y", "z"].map(|k| ties.get(k, t(7)).is_some()), [false, true, true]);
    // A cap of 0 keeps nothing.
    let mut none = SessionBindings::new(TTL, 0);
    none.bind("k", "a", t(0));
    assert_eq!(none.get("k", t(0)), None);
    assert_eq!(none.len(), 0);
}

#[test]
fn forget_remove_and_clear() {
    let mut bindings = SessionBindings::new(TTL, 10);
    bindings.bind("s1", "a", t(0));
    bindings.bind("s2", "b", t(1));
    bindings.bind("s3", "a", t(2));
    assert_eq!(bindings.forget_account("a"), 2);
    assert_eq!(bindings.forget_account("a"), 0);
    assert_eq!(
        ["s1", "s2", "s3"].map(|k| bindings.get(k, t(3)).map(str::to_owned)),
        [None, Some("b".into()), None]
    );
    assert_eq!(bindings.remove("s2"), Some("b".to_owned()));
    assert_eq!(bindings.remove("s2"), None);
    bindings.bind("s4", "c", t(4));
    bindings.bind("s5", "c", t(5));
    bindings.clear();
    assert!(bindings.is_empty());
    // Forgotten and cleared entries do not count against the cap later.
    let mut small = SessionBindings::new(TTL, 2);
    small.bind("p", "a", t(0));
    small.bind("q", "b", t(1));
    small.forget_account("a");
    small.bind("r", "b", t(2));
    assert_eq!(["q", "r"].map(|k| small.get(k, t(3)).is_some()), [true, true]);
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    Bind { key: u8, account: u8, advance: i64 },
    Get { key: u8, advance: i64 },
    Forget { account: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0_u8..8, 0_u8..3, 0_i64..40).prop_map(|(key, account, advance)| Op::Bind { key, account, advance }),
        3 => (0_u8..8, 0_i64..40).prop_map(|(key, advance)| Op::Get { key, advance }),
        1 => (0_u8..3).prop_map(|account| Op::Forget { account }),
    ]
}

proptest! {
    /// The table agrees with a naive model: a map, expired by scanning, the oldest evicted by
    /// (time, order of binding).
    #[test]
    fn bindings_match_a_naive_model(ops in proptest::collection::vec(op(), 0..60)) {
        let ttl_ms = 100;
        let cap = 4;
        let mut bindings = SessionBindings::new(Duration::from_millis(100), cap);
        let mut model: HashMap<String, (String, i64, usize)> = HashMap::new();
        let mut now = 0;
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Bind { key, account, advance } => {
                    now += advance;
                    let (key, account) = (format!("k{key}"), format!("a{account}"));
                    bindings.bind(&key, &account, t(now));
                    model.insert(key, (account, now, step));
                    model.retain(|_, (_, at, _)| now - *at < ttl_ms);
                    while model.len() > cap {
                        let oldest = model.iter().min_by_key(|(_, (_, at, seq))| (*at, *seq)).map(|(k, _)| k.clone()).unwrap();
                        model.remove(&oldest);
                    }
                }
                Op::Get { key, advance } => {
                    now += advance;
                    let key = format!("k{key}");
                    let expected = match model.get(&key) {
                        Some((_, at, _)) if now - *at >= ttl_ms => {
                            model.remove(&key);
                            None
                        }
                        other => other.map(|(account, _, _)| account.clone()),
                    };
                    prop_assert_eq!(bindings.get(&key, t(now)).map(str::to_owned), expected);
                }
                Op::Forget { account } => {
                    let account = format!("a{account}");
                    let before = model.len();
                    model.retain(|_, (a, _, _)| *a != account);
                    prop_assert_eq!(bindings.forget_account(&account), before - model.len());
                }
            }
            prop_assert_eq!(bindings.len(), model.len());
        }
    }
}
