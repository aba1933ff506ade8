//! Properties over arbitrary input: nothing panics, chunking never changes a stream, messages
//! never carry a token.

use mac_adapters::{
    ProviderDescriptor, ToolPrefixStripper, parse_anthropic_profile, parse_anthropic_usage,
    parse_codex_usage, parse_token_response,
};
use mac_storage::EpochMs;
use proptest::prelude::*;

/// The obvious transform on a whole input: at each position, if `"name"`, whitespace, `:`,
/// whitespace, `"` and the prefix start there, copy up to the prefix and skip it.
fn reference(prefix: &[u8], input: &[u8]) -> Vec<u8> {
    fn skip_space(input: &[u8], mut i: usize) -> usize {
        while i < input.len() && matches!(input[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    }
    let match_at = |i: usize| -> Option<usize> {
        let rest = input.get(i..)?;
        if !rest.starts_with(b"\"name\"") {
            return None;
        }
        let j = skip_space(input, i + 6);
        if input.get(j) != Some(&b':') {
            return None;
        }
        let k = skip_space(input, j + 1);
        if input.get(k) != Some(&b'"') {
            return None;
        }
        input.get(k + 1..)?.starts_with(prefix).then_some(k + 1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        if let Some(prefix_at) = match_at(i) {
            out.extend_from_slice(&input[i..prefix_at]);
            i = prefix_at + prefix.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// Inputs made mostly of the pieces a match is built from, plus arbitrary bytes.
fn stream_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => proptest::sample::select(vec![
            &b"\"name\""[..], b"\"", b"name", b"nam", b":", b" ", b"\n", b"\t", b"\r",
            b"mcp_", b"mcp", b"mc", b"m", b"_", b"x", b"\\\"", b"{", b"}", b",",
            b"data: ", b"\"name\":\"mcp_", b"\"name\" : \"", b"\"name\":\"", b"name\":\"mcp_",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..4),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("mcp_".to_owned()),
        1 => proptest::sample::select(vec!["m", "mm", "n", "na", "name", ":", " x", "mcp_mcp_"]).prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn chunking_never_changes_the_stream(
        prefix in prefix(),
        input in stream_input(),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let whole = ToolPrefixStripper::transform_all(&prefix, &input);
        prop_assert_eq!(&whole, &reference(prefix.as_bytes(), &input));
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut stripper = ToolPrefixStripper::new(&prefix);
        let mut out = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            out.extend(stripper.feed(&input[start..cut]));
            start = cut;
        }
        out.extend(stripper.finish());
        prop_assert_eq!(out, whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn usage_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200), now in any::<i64>()) {
        let _ = parse_anthropic_usage(&bytes);
        let _ = parse_codex_usage(&bytes, EpochMs::from_millis(now));
        let _ = parse_anthropic_profile(&bytes);
    }

    #[test]
    fn token_responses_never_panic_or_echo_a_token(
        status in prop_oneof![Just(200_u16), Just(400), Just(401), Just(403), Just(500), any::<u16>()],
        code in proptest::sample::select(vec!["invalid_grant", "invalid_request", "x y", ""]),
        noise in "[ -~]{0,60}",
        started in any::<i64>(),
        expires_in in any::<f64>(),
    ) {
        let secret = "tok0123456789abcdefghijklmnopqrstuv";
        let bodies = [
            serde_json::json!({"error": code, "error_description": format!("{noise} {secret} {noise}")}).to_string(),
            serde_json::json!({"error": {"code": code, "message": format!("refresh token {secret}")}}).to_string(),
            serde_json::json!({"refresh_token": secret, "expires_in": expires_in, "access_token": noise}).to_string(),
            format!("<html>{secret}{noise}"),
            noise.clone(),
        ];
        for descriptor in [ProviderDescriptor::anthropic(), ProviderDescriptor::codex()] {
            for body in &bodies {
                if let Err(failure) = parse_token_response(&descriptor, status, body.as_bytes(), EpochMs::from_millis(started)) {
                    prop_assert!(!failure.message.contains(secret), "{}", failure.message);
                    let debug = format!("{failure:?}");
                    prop_assert!(!debug.contains(secret), "{}", debug);
                }
            }
        }
    }
}
