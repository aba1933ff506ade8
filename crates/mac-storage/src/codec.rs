//! Bytes to document and back, with every way a file can be bad named precisely (D6).
//!
//! Messages never quote anything read from the file, since a misplaced token could be among
//! it: a shape problem names the field (a path made of schema keys and indexes), the kind of
//! problem and what was expected, never the value found. (Redacting quoted text out of parser
//! messages instead was fooled by an escaped quote inside a value.)

use std::fmt;

use serde::Deserialize;

use crate::document::{AccountsDocument, SUPPORTED_VERSION};
use crate::unknown_fields::{RawDocument, RawObject, UnknownFields};

/// What is wrong with the contents of an accounts file. Messages never quote values from the
/// file, since a misplaced token could be among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentProblem {
    /// The file has no bytes at all.
    Empty,
    /// The file is larger than the limit.
    TooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// The JSON ends early (a truncated write by another program).
    Truncated {
        /// Line where the input ended.
        line: usize,
        /// Column where the input ended.
        column: usize,
    },
    /// Not JSON.
    Syntax {
        /// Line of the first error.
        line: usize,
        /// Column of the first error.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// JSON, but not an accounts document: a wrong type, a missing required field.
    Shape {
        /// Where in the document, e.g. `accounts[2].addedAt` (empty for the top level).
        field: String,
        /// The description.
        message: String,
    },
    /// `version` is not a version this build understands (0, or not an integer).
    BadVersion {
        /// The value found.
        found: u64,
    },
    /// A newer build wrote the file in a shape this build cannot read (D3: readable files of
    /// a newer version are returned as read; this is the other case).
    NewerVersion {
        /// The version found.
        found: u64,
    },
}

impl fmt::Display for DocumentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocumentProblem::Empty => f.write_str("the file is empty"),
            DocumentProblem::TooLarge { size, limit } => {
                write!(f, "the file is {size} bytes, more than the limit of {limit} bytes")
            }
            DocumentProblem::Truncated { line, column } => {
                write!(f, "the JSON ends early at line {line} column {column} (truncated file?)")
            }
            DocumentProblem::Syntax { line, column, message } => {
                write!(f, "not valid JSON at line {line} column {column}: {message}")
            }
            DocumentProblem::Shape { field, message } if field.is_empty() || field == "." => {
                write!(f, "not an accounts document: {message}")
            }
            DocumentProblem::Shape { field, message } => write!(f, "field `{field}`: {message}"),
            DocumentProblem::BadVersion { found } => {
                write!(f, "`version` is {found}; this build reads version {SUPPORTED_VERSION}")
            }
            DocumentProblem::NewerVersion { found } => write!(
                f,
                "`version` is {found}, newer than this build's {SUPPORTED_VERSION}, in a shape \
                 this build cannot read; upgrade mac"
            ),
        }
    }
}

/// Parses a document. The version is not judged here beyond being at least 1: a newer version
/// that parses is returned (reads of newer files work, D3; the store refuses to write it), and
/// one that does not parse is [`DocumentProblem::NewerVersion`], not a shape problem, so that
/// nobody treats a newer file as corrupt.
pub fn decode(bytes: &[u8], limit: u64) -> Result<AccountsDocument, DocumentProblem> {
    let mut document = decode_shape(bytes, limit)?;
    if needs_original_texts(&document) {
        keep_originals(&mut document, bytes);
    }
    Ok(document)
}

/// [`decode`] without remembering the original text of unknown fields: what checking that
/// bytes read back needs.
fn decode_shape(bytes: &[u8], limit: u64) -> Result<AccountsDocument, DocumentProblem> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(DocumentProblem::TooLarge { size, limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DocumentProblem::Empty);
    }
    let document = match parse_plain(bytes) {
        Ok(document) => document,
        Err(_) => parse_tracked(bytes)?,
    };
    if document.version == 0 {
        return Err(DocumentProblem::BadVersion { found: 0 });
    }
    Ok(document)
}

/// The parse every read and every write check pays: plain `serde_json`, the whole input.
///
/// [`parse_tracked`] accepts and rejects exactly the same inputs (`serde_path_to_error` only
/// watches), but it records every key it passes, an allocation per key, which made a parse of
/// a ten-account file cost three times as much; a write pays two parses under the lock (the
/// fresh read and the check of the new bytes), so it runs only to describe a failure.
fn parse_plain(bytes: &[u8]) -> Result<AccountsDocument, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document = AccountsDocument::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(document)
}

/// The parse that names what is wrong: the field path of a shape problem, a newer version
/// told apart from a corrupt file.
fn parse_tracked(bytes: &[u8]) -> Result<AccountsDocument, DocumentProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<AccountsDocument, _> = serde_path_to_error::deserialize(&mut deserializer);
    let document = match parsed {
        Ok(document) => document,
        Err(err) => {
            let field = err.path().to_string();
            let problem = classify(&err.into_inner(), field);
            if let DocumentProblem::Shape { .. } = problem
                && let Some(found) = newer_version(bytes)
            {
                return Err(DocumentProblem::NewerVersion { found });
            }
            return Err(problem);
        }
    };
    deserializer.end().map_err(|err| classify(&err, String::new()))?;
    Ok(document)
}

/// Serializes a document the seed's way: 2-space indented JSON and one trailing newline.
pub fn encode(document: &AccountsDocument) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(document)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Serializes a document and checks that the bytes read back (no `NaN` written as `null`, no
/// time beyond what a reader accepts, not over `limit`): a backend never stores a document it
/// would refuse to read, since every other process would then fail on it.
pub fn encode_checked(document: &AccountsDocument, limit: u64) -> Result<Vec<u8>, DocumentProblem> {
    let bytes = encode(document).map_err(|err| DocumentProblem::Shape {
        field: String::new(),
        message: format!("cannot be serialized ({})", kind_of(&err)),
    })?;
    decode_shape(&bytes, limit)?;
    Ok(bytes)
}

/// The version of a document whose shape did not parse, when it is newer than this build's.
fn newer_version(bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u64,
    }
    let probe: VersionOnly = serde_json::from_slice(bytes).ok()?;
    (probe.version > SUPPORTED_VERSION).then_some(probe.version)
}

/// Whether some unknown field could be written differently from how the file spells it, so
/// that [`keep_originals`] must find its text. Fields whose value has one spelling (see
/// [`UnknownFields::spelled_one_way`]) are written back exactly from the value alone; a file
/// with no other unknown fields is read in one pass, which matters under the lock.
fn needs_original_texts(document: &AccountsDocument) -> bool {
    let differs = |fields: &UnknownFields| !fields.spelled_one_way();
    differs(&document.extra)
        || document.accounts.iter().any(|account| {
            differs(&account.extra)
                || account.cached_usage.as_ref().is_some_and(|usage| {
                    differs(&usage.extra)
                        || [&usage.five_hour, &usage.seven_day, &usage.seven_day_sonnet]
                            .into_iter()
                            .flatten()
                            .any(|window| differs(&window.extra))
                })
        })
}

/// Gives every unknown field its original text (a second, unparsed pass over the bytes that
/// already parsed as a document). The keys walked are the document's nested objects: the
/// serde names of [`AccountsDocument::accounts`], [`crate::StoredAccount::cached_usage`] and
/// the windows of [`crate::UsageLimits`].
fn keep_originals(document: &mut AccountsDocument, bytes: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<RawDocument>(bytes) else { return };
    document.extra.keep_originals(&raw.top);
    for (account, raw) in document.accounts.iter_mut().zip(&raw.accounts) {
        account.extra.keep_originals(raw);
        let (Some(usage), Some(raw_usage)) =
            (account.cached_usage.as_mut(), raw.get("cachedUsage").and_then(RawObject::parse))
        else {
            continue;
        };
        usage.extra.keep_originals(&raw_usage);
        for (window, key) in [
            (&mut usage.five_hour, "five_hour"),
            (&mut usage.seven_day, "seven_day"),
            (&mut usage.seven_day_sonnet, "seven_day_sonnet"),
        ] {
            if let (Some(window), Some(raw_window)) =
                (window.as_mut(), raw_usage.get(key).and_then(RawObject::parse))
            {
                window.extra.keep_originals(&raw_window);
            }
        }
    }
}

fn classify(err: &serde_json::Error, field: String) -> DocumentProblem {
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Eof => DocumentProblem::Truncated { line, column },
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            // serde_json's syntax messages are fixed texts ("expected value", "trailing
            // characters", …) that never include input.
            DocumentProblem::Syntax { line, column, message: strip_position(err) }
        }
        serde_json::error::Category::Data => {
            let message = format!("{} (line {line} column {column})", kind_of(err));
            DocumentProblem::Shape { field, message }
        }
    }
}

/// A description of a data error built only from texts this program defines: the kind of
/// problem, the names of schema fields and what was expected. serde's messages put the value
/// found between the kind and ", expected …", so everything there is dropped.
fn kind_of(err: &serde_json::Error) -> String {
    let text = strip_position(err);
    for keep in ["missing field `", "duplicate field `"] {
        if text.starts_with(keep) && text.ends_with('`') && text.matches('`').count() == 2 {
            return text;
        }
    }
    let kind = [
        ("invalid type", "wrong type"),
        ("invalid value", "invalid value"),
        ("invalid length", "wrong length"),
        ("unknown variant", "unknown variant"),
    ]
    .iter()
    .find(|(prefix, _)| text.starts_with(prefix))
    .map_or("invalid value", |(_, kind)| kind);
    // What was expected comes last and from the schema (a visitor's `expecting`).
    match text.rfind(", expected ") {
        Some(index) => format!("{kind}, expected {}", &text[index + ", expected ".len()..]),
        None => kind.to_owned(),
    }
}

/// `serde_json` appends " at line L column C"; the problem carries the position itself.
fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 1 << 20;

    fn problem(text: &str) -> DocumentProblem {
        decode(text.as_bytes(), LIMIT).unwrap_err()
    }

    #[test]
    fn empty_and_whitespace_are_empty() {
        assert_eq!(problem(""), DocumentProblem::Empty);
        assert_eq!(problem(" \n"), DocumentProblem::Empty);
    }

    #[test]
    fn truncated_json_is_named_truncated() {
        assert!(matches!(
            problem("{\"version\": 1, \"accounts\": ["),
            DocumentProblem::Truncated { .. }
        ));
    }

    #[test]
    fn garbage_is_a_syntax_error_with_position() {
        let p = problem("{\"version\": 1,\n oops}");
        assert!(matches!(p, DocumentProblem::Syntax { line: 2, .. }), "{p:?}");
        assert!(matches!(problem(r#"{"version": 1} trailing"#), DocumentProblem::Syntax { .. }));
        assert!(matches!(problem("\u{ff}\u{fe}"), DocumentProblem::Syntax { .. }));
    }

    #[test]
    fn wrong_type_names_the_field_and_hides_the_value() {
        let text = r#"{"version": 1, "accounts": [{"refreshToken": "r", "addedAt": 1, "lastUsed": 1},
            {"refreshToken": "r2", "addedAt": "sk-ant-secret-token", "lastUsed": 1}]}"#;
        let p = problem(text);
        let shown = p.to_string();
        assert!(shown.contains("accounts[1].addedAt"), "{shown}");
        assert!(!shown.contains("sk-ant-secret-token"), "{shown}");
    }

    #[test]
    fn missing_required_fields_and_wrong_top_level() {
        assert!(problem(r#"{"accounts": []}"#).to_string().contains("version"));
        let missing =
            problem(r#"{"version": 1, "accounts": [{"addedAt": 1, "lastUsed": 1}]}"#).to_string();
        assert!(missing.contains("refreshToken"), "{missing}");
        assert!(matches!(problem("[]"), DocumentProblem::Shape { .. }));
        assert!(matches!(problem(r#"{"version": "1"}"#), DocumentProblem::Shape { .. }));
        assert_eq!(problem(r#"{"version": 0}"#), DocumentProblem::BadVersion { found: 0 });
    }

    #[test]
    fn too_large_is_refused_before_parsing() {
        let p = decode(&[b' '; 100], 10).unwrap_err();
        assert_eq!(p, DocumentProblem::TooLarge { size: 100, limit: 10 });
    }

    #[test]
    fn round_trip_preserves_unknown_fields_and_seed_shape() {
        let text = r#"{
  "version": 1,
  "accounts": [
    {
      "uuid": "u1",
      "email": "me@example.com",
      "planTier": "max",
      "refreshToken": "r",
      "accessToken": "a",
      "expiresAt": 1773200000000,
      "addedAt": 1773100000000,
      "lastUsed": 1773150000000,
      "enabled": true,
      "cachedUsage": {
        "five_hour": { "utilization": 42, "resets_at": "2026-03-11T05:00:00Z", "newKey": 1 },
        "seven_day": null,
        "seven_day_sonnet": null
      },
      "consecutiveAuthFailures": 0,
      "isAuthDisabled": false,
      "futureField": {"nested": [1, 2]}
    }
  ],
  "activeAccountUuid": "u1",
  "topLevelFuture": true
}"#;
        let doc = decode(text.as_bytes(), LIMIT).unwrap();
        assert_eq!(doc.accounts[0].extra["futureField"]["nested"][1], 2);
        let five = doc.accounts[0].cached_usage.as_ref().unwrap().five_hour.as_ref().unwrap();
        assert_eq!(five.extra["newKey"], 1);
        let again = decode(&encode(&doc).unwrap(), LIMIT).unwrap();
        assert_eq!(again, doc);
        let encoded = String::from_utf8(encode(&doc).unwrap()).unwrap();
        assert!(encoded.ends_with("}\n"));
        assert!(encoded.contains("\n  \"accounts\": ["), "2-space indent: {encoded}");
        assert!(encoded.contains("\"seven_day\": null"));
        assert!(encoded.contains("\"topLevelFuture\": true"));
    }

    #[test]
    fn the_plain_parse_and_the_tracked_parse_agree() {
        let valid = br#"{"version": 1, "accounts": [{"refreshToken": "r", "addedAt": 1,
            "lastUsed": 2, "x": [1.50]}], "generation": 7, "y": {"b": 1, "a": 2}}"#;
        assert_eq!(parse_plain(valid).unwrap(), parse_tracked(valid).unwrap());
        for invalid in [
            &br#"{"version": 1, "accounts": [{"refreshToken": "r", "addedAt": 1}]}"#[..],
            br#"{"version": 1, "accounts": [{"refreshToken": null, "addedAt": 1, "lastUsed": 1}]}"#,
            br#"{"version": 1, "accounts": []} {}"#,
            br#"{"version": 1, "generation": -1}"#,
        ] {
            assert!(parse_plain(invalid).is_err());
            assert!(parse_tracked(invalid).is_err());
        }
    }

    #[test]
    fn unknown_fields_keep_their_text_whatever_the_key_spelling_and_order() {
        // An escaped key (copied rather than borrowed), unknown keys before `accounts`, and
        // `accounts` not first: the one-pass split must still find every original text.
        let text = r#"{"t\u0061g": 1.50, "version": 1, "accounts": [{"refreshToken": "r",
            "addedAt": 1, "lastUsed": 1, "n\"q": 2.0, "plain": 1e2}], "after": 0.10}"#;
        let doc = decode(text.as_bytes(), LIMIT).unwrap();
        let encoded = String::from_utf8(encode(&doc).unwrap()).unwrap();
        for fragment in [r#""tag": 1.50"#, r#""n\"q": 2.0"#, r#""plain": 1e2"#, r#""after": 0.10"#]
        {
            assert!(encoded.contains(fragment), "{fragment} lost in {encoded}");
        }
    }

    #[test]
    fn values_with_one_spelling_are_written_back_exactly_without_their_text() {
        // Integers, booleans and null have one spelling; `-0` reads as a float and keeps its
        // text like every other float.
        let text = br#"{"version": 1, "n": -12, "big": 18446744073709551615, "t": true,
            "z": null, "accounts": [{"refreshToken": "r", "addedAt": 1, "lastUsed": 1,
            "count": 7}]}"#;
        let doc = decode(text, LIMIT).unwrap();
        assert!(!needs_original_texts(&doc));
        let encoded = String::from_utf8(encode(&doc).unwrap()).unwrap();
        for fragment in [
            r#""n": -12"#,
            r#""big": 18446744073709551615"#,
            r#""t": true"#,
            r#""z": null"#,
            r#""count": 7"#,
        ] {
            assert!(encoded.contains(fragment), "{fragment} lost in {encoded}");
        }
        let negative_zero = br#"{"version": 1, "accounts": [], "m": -0}"#;
        let doc = decode(negative_zero, LIMIT).unwrap();
        assert!(needs_original_texts(&doc));
        let encoded = String::from_utf8(encode(&doc).unwrap()).unwrap();
        assert!(encoded.contains(r#""m": -0"#), "{encoded}");
    }

    #[test]
    fn newer_versions_parse() {
        let doc = decode(br#"{"version": 2, "accounts": [], "v2only": 1}"#, LIMIT).unwrap();
        assert_eq!(doc.version, 2);
    }
}
