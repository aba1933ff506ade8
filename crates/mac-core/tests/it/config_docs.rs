//! `docs/CONFIG.md` cannot drift from the schema: its key table is the one the code renders, and
//! its example file is valid. `MAC_UPDATE_CONFIG_DOCS=1 cargo test -p mac-core config_docs`
//! rewrites the table.

use std::path::PathBuf;

use mac_core::config::{MacConfig, docs_table, no_env};

const TABLE_BEGIN: &str = "<!-- BEGIN GENERATED: config keys (MAC_UPDATE_CONFIG_DOCS=1 cargo test -p mac-core config_docs) -->";
const TABLE_END: &str = "<!-- END GENERATED: config keys -->";
const EXAMPLE_BEGIN: &str = "<!-- BEGIN EXAMPLE: tested to be valid -->";
const EXAMPLE_END: &str = "<!-- END EXAMPLE -->";

fn config_md() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONFIG.md")
}

/// The text between `begin` and `end` in `doc`, and its byte range.
fn between<'a>(doc: &'a str, begin: &str, end: &str) -> (std::ops::Range<usize>, &'a str) {
    let start = doc.find(begin).unwrap_or_else(|| panic!("docs/CONFIG.md lacks the line {begin}"))
        + begin.len();
    let stop = start
        + doc[start..].find(end).unwrap_or_else(|| panic!("docs/CONFIG.md lacks the line {end}"));
    (start..stop, &doc[start..stop])
}

#[test]
fn config_docs_table_is_the_schema() {
    let path = config_md();
    let doc = std::fs::read_to_string(&path).unwrap();
    let (range, actual) = between(&doc, TABLE_BEGIN, TABLE_END);
    let expected = format!("\n{}", docs_table());
    if actual == expected {
        return;
    }
    if std::env::var_os("MAC_UPDATE_CONFIG_DOCS").is_some_and(|v| v == "1") {
        let mut updated = doc.clone();
        updated.replace_range(range, &expected);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "docs/CONFIG.md's key table differs from the schema (crates/mac-core/src/config/schema.rs).\n\
         Regenerate it with `MAC_UPDATE_CONFIG_DOCS=1 cargo test -p mac-core config_docs`, or put \
         this between the markers:\n{expected}"
    );
}

#[test]
fn config_docs_example_is_a_valid_file() {
    let doc = std::fs::read_to_string(config_md()).unwrap();
    let (_, block) = between(&doc, EXAMPLE_BEGIN, EXAMPLE_END);
    let toml = block
        .trim()
        .strip_prefix("```toml")
        .and_then(|rest| rest.strip_suffix("```"))
        .expect("the example is one ```toml block");
    let config = MacConfig::parse(toml, "docs/CONFIG.md example", no_env)
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_ne!(config, MacConfig::default(), "the example sets something");
}
