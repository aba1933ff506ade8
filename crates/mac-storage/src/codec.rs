//! Bytes to document and back, with every way a file can be bad named precisely (D6).

use std::fmt;

use crate::document::{AccountsDocument, SUPPORTED_VERSION};

/// What is wrong with the contents of an accounts file. Messages never quote string values
/// from the file, since a misplaced token could be among them.
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
        }
    }
}

/// Parses a document. The version is not judged here beyond being at least 1: a newer version
/// parses (reads of newer files work, D3) and the store refuses to write it.
pub fn decode(bytes: &[u8], limit: u64) -> Result<AccountsDocument, DocumentProblem> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(DocumentProblem::TooLarge { size, limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DocumentProblem::Empty);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let document: AccountsDocument =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let field = err.path().to_string();
            classify(&err.into_inner(), field)
        })?;
    deserializer.end().map_err(|err| classify(&err, String::new()))?;
    if document.version == 0 {
        return Err(DocumentProblem::BadVersion { found: 0 });
    }
    Ok(document)
}

/// Serializes a document the seed's way: 2-space indented JSON and one trailing newline.
pub fn encode(document: &AccountsDocument) -> Result<Vec<u8>, serde_json::Error> {
    let mut bytes = serde_json::to_vec_pretty(document)?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn classify(err: &serde_json::Error, field: String) -> DocumentProblem {
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        serde_json::error::Category::Eof => DocumentProblem::Truncated { line, column },
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            DocumentProblem::Syntax { line, column, message: strip_position(err) }
        }
        serde_json::error::Category::Data => {
            let message =
                format!("{} (line {line} column {column})", redact_quoted(&strip_position(err)));
            DocumentProblem::Shape { field, message }
        }
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

/// Replaces every double-quoted string in a parser message (the offending value, which could be
/// a token) with `"…"`. Field names in serde messages are in backticks and stay.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for ch in message.chars() {
        if ch == '"' {
            if inside {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            inside = !inside;
        } else if !inside {
            out.push(ch);
        }
    }
    out
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
    fn newer_versions_parse() {
        let doc = decode(br#"{"version": 2, "accounts": [], "v2only": 1}"#, LIMIT).unwrap();
        assert_eq!(doc.version, 2);
    }
}
