//! Tidy rules, run as ordinary tests on the real workspace (so `cargo nextest run --workspace`
//! enforces them): crate roots open with a `//!` paragraph and say what they must not depend on;
//! every other Rust file (module, test, binary) opens with a `//!` line saying its job; no
//! `#[ignore]` without a reason; docs/ARCHITECTURE.md names exactly the workspace members;
//! every member inherits the workspace lints; every decision cited as `D<n>` is one that
//! docs/DESIGN.md defines, and no text cites a document outside the repository;
//! `clippy.toml` routes durable writes and environment reads through their helpers, and
//! every exception says why.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::cargo::Metadata;
use crate::project_root;

/// The metadata of the real workspace.
fn workspace() -> Metadata {
    Metadata::load(Some(&project_root().join("Cargo.toml"))).unwrap()
}

/// `path` relative to the workspace root, for messages.
fn relative(path: &Path) -> String {
    path.strip_prefix(project_root()).unwrap_or(path).display().to_string()
}

/// Fails listing `problems`, if there are any.
fn assert_none(rule: &str, problems: &[String]) {
    assert!(problems.is_empty(), "{rule}:\n  {}", problems.join("\n  "));
}

/// What is wrong with the crate root `text`: it must open with a `//!` paragraph and have a
/// `//!` line containing `Must not depend on:`.
fn crate_root_problems(text: &str) -> Vec<&'static str> {
    let mut problems = Vec::new();
    let first = text.lines().next().unwrap_or("");
    if first.strip_prefix("//!").is_none_or(|rest| rest.trim().is_empty()) {
        problems.push("does not open with a `//!` paragraph saying its job");
    }
    if !text
        .lines()
        .any(|line| line.trim_start().starts_with("//!") && line.contains("Must not depend on:"))
    {
        problems.push("has no `//! Must not depend on: ...` line");
    }
    problems
}

#[test]
fn crate_roots_state_their_job_and_what_they_must_not_depend_on() {
    let metadata = workspace();
    let mut problems = Vec::new();
    for package in &metadata.members {
        let Some(root) = package.crate_root() else {
            problems.push(format!("{}: has neither a lib nor a bin target", package.name));
            continue;
        };
        let text = fs::read_to_string(root).unwrap();
        for problem in crate_root_problems(&text) {
            problems.push(format!("{} ({}): {problem}", relative(root), package.name));
        }
    }
    assert_none("crate roots (lib.rs, or main.rs without a lib)", &problems);
}

#[test]
fn crate_root_rule() {
    assert_eq!(
        crate_root_problems("//! Does one thing.\n//!\n//! Must not depend on: x.\n"),
        Vec::<&str>::new()
    );
    assert_eq!(
        crate_root_problems("#![allow(x)]\n//! Job.\n//! Must not depend on: x.\n"),
        ["does not open with a `//!` paragraph saying its job"]
    );
    assert_eq!(
        crate_root_problems("//!\n// Must not depend on: x.\n"),
        [
            "does not open with a `//!` paragraph saying its job",
            "has no `//! Must not depend on: ...` line"
        ]
    );
}

/// The 1-based numbers of the lines of `text` that are an `#[ignore]` attribute without a reason.
fn bare_ignores(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.trim_start()
                .strip_prefix("#[ignore")
                .is_some_and(|rest| rest.trim_start().starts_with(']'))
        })
        .map(|(index, _)| index + 1)
        .collect()
}

/// Every `.rs` file under `dir`, skipping hidden directories, `target` and any other cargo target
/// directory (one holding a `CACHEDIR.TAG`), and the layering fixtures.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let fixtures = project_root().join("xtask").join("fixtures");
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            let skip = name.starts_with('.')
                || name == "target"
                || path.join("CACHEDIR.TAG").exists()
                || path == fixtures;
            if !skip {
                rust_files(&path, files);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// Whether `text` opens with a non-empty `//!` line (a module's one-line job).
fn opens_with_module_doc(text: &str) -> bool {
    text.lines()
        .next()
        .and_then(|line| line.strip_prefix("//!"))
        .is_some_and(|rest| !rest.trim().is_empty())
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(project_root(), &mut files);
    files.sort();
    let problems: Vec<String> = files
        .iter()
        .filter(|file| !opens_with_module_doc(&fs::read_to_string(file).unwrap()))
        .map(|file| {
            format!("{}: open it with a `//!` line saying the module's job", relative(file))
        })
        .collect();
    assert_none("Rust files without a module doc", &problems);
}

#[test]
fn module_doc_rule() {
    assert!(opens_with_module_doc("//! Parses things.\nuse x;\n"));
    assert!(!opens_with_module_doc("//!\n//! Parses things.\n"));
    assert!(!opens_with_module_doc("use x;\n//! Parses things.\n"));
    assert!(!opens_with_module_doc(""));
}

#[test]
fn no_ignore_without_a_reason() {
    let mut files = Vec::new();
    rust_files(project_root(), &mut files);
    files.sort();
    assert!(files.iter().any(|file| file.ends_with("xtask/src/tidy.rs")));
    let mut problems = Vec::new();
    for file in &files {
        for line in bare_ignores(&fs::read_to_string(file).unwrap()) {
            problems.push(format!(
                "{}:{line}: `#[ignore]` needs a reason: `#[ignore = \"why\"]`",
                relative(file)
            ));
        }
    }
    assert_none("ignored tests without a reason", &problems);
}

#[test]
fn ignore_rule() {
    let text =
        "#[test]\n    #[ignore]\nfn a() {}\n#[ignore = \"slow\"]\n#[ignore ]\n// #[ignore]\n";
    assert_eq!(bare_ignores(text), [2, 5]);
}

/// The words of `text` that look like a crate name (letters, digits, `-`, `_`).
fn crate_like_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|word| !word.is_empty())
}

/// What is wrong with the architecture document `text` for the workspace `members`: each member
/// must appear in a heading or in backticks, and each `mac-*` crate named in a heading must be a
/// member.
fn architecture_problems(text: &str, members: &[&str]) -> Vec<String> {
    let headings: Vec<&str> =
        text.lines().filter(|line| line.trim_start().starts_with('#')).collect();
    let mut problems = Vec::new();
    for member in members {
        let in_heading =
            headings.iter().any(|heading| crate_like_words(heading).any(|word| word == *member));
        if !in_heading && !text.contains(&format!("`{member}`")) {
            problems.push(format!(
                "workspace member `{member}` is not named (in a heading or as `{member}`)"
            ));
        }
    }
    for heading in &headings {
        for word in crate_like_words(heading) {
            // `mac-` alone (as in "the `mac-*` crates") names no crate.
            let names_a_crate = word.starts_with("mac-") && !word.ends_with('-');
            if names_a_crate && !members.contains(&word) {
                problems.push(format!(
                    "heading `{}` names `{word}`, which is not a workspace member",
                    heading.trim()
                ));
            }
        }
    }
    problems
}

#[test]
fn architecture_doc_names_exactly_the_workspace_members() {
    let metadata = workspace();
    let path = metadata.workspace_root.join("docs").join("ARCHITECTURE.md");
    let members: Vec<&str> = metadata.members.iter().map(|p| p.name.as_str()).collect();
    let Ok(text) = fs::read_to_string(&path) else {
        panic!(
            "docs/ARCHITECTURE.md does not exist (looked at {}); it must describe every \
             workspace member: {}",
            path.display(),
            members.join(", ")
        );
    };
    assert_none(
        "docs/ARCHITECTURE.md and the workspace members disagree",
        &architecture_problems(&text, &members),
    );
}

#[test]
fn architecture_rule() {
    let members = ["mac-a", "mac-b", "xtask"];
    let text = "# The `mac-*` crates\n## `mac-a`\nUses `mac-b`.\n### xtask\n";
    assert_eq!(architecture_problems(text, &members), Vec::<String>::new());
    let text = "## `mac-a`\n## mac-gone\nmac-b without backticks; `xtask`\n";
    assert_eq!(
        architecture_problems(text, &members),
        [
            "workspace member `mac-b` is not named (in a heading or as `mac-b`)",
            "heading `## mac-gone` names `mac-gone`, which is not a workspace member",
        ]
    );
}

/// Whether the manifest `text` has `[lints] workspace = true` (or `lints.workspace = true`, or
/// `lints = { workspace = true }`).
fn inherits_workspace_lints(text: &str) -> bool {
    let compact = |line: &str| line.split('#').next().unwrap_or("").replace([' ', '\t'], "");
    let mut in_lints = false;
    for line in text.lines().map(compact) {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        } else if (in_lints && line == "workspace=true")
            || line == "lints.workspace=true"
            || line == "lints={workspace=true}"
        {
            return true;
        }
    }
    false
}

#[test]
fn every_member_inherits_the_workspace_lints() {
    let metadata = workspace();
    let problems: Vec<String> = metadata
        .members
        .iter()
        .filter(|package| {
            !inherits_workspace_lints(&fs::read_to_string(&package.manifest_path).unwrap())
        })
        .map(|package| {
            format!("{}: add `[lints]\\nworkspace = true`", relative(&package.manifest_path))
        })
        .collect();
    assert_none("members that do not inherit the workspace lints", &problems);
}

#[test]
fn lints_rule() {
    assert!(inherits_workspace_lints("[package]\n\n[lints]\nworkspace = true\n"));
    assert!(inherits_workspace_lints("lints.workspace = true # inherit\n"));
    assert!(!inherits_workspace_lints("[lints]\n\n[dependencies]\nworkspace = true\n"));
    assert!(!inherits_workspace_lints("[lints.rust]\nworkspace = true\n"));
}

/// Paths (files or directories, relative to the workspace root) still allowed to cite documents
/// outside the repository. Each entry must still hold such a reference, so the list only shrinks.
const OUTSIDE_REFERENCE_EXEMPT: &[&str] = &[];

/// The one file exempt from both reference rules for good: it spells out the patterns and feeds
/// them to the rule's own unit test.
const REFERENCE_RULE_SOURCE: &str = "xtask/src/tidy.rs";

/// Text naming a path or document outside the repository, matched anywhere in a line. The
/// design's reasons live in docs/DESIGN.md, so a clone of the repository must make sense alone.
const OUTSIDE_PATHS: &[&str] =
    &["../shared", "shared/spec", "/work/shared", "DECISIONS.md", "CLIENTS.md", "STYLE.md"];

/// Names of documents outside the repository, matched as whole upper-case words (so an
/// identifier such as `RNG_SEED` is not one).
const OUTSIDE_DOCUMENTS: &[&str] = &["SEED", "PEERS", "DECISIONS"];

/// The decision numbers docs/DESIGN.md defines: each decision is a list item opening with
/// `**D<n>.`.
fn defined_decisions(design: &str) -> BTreeSet<u32> {
    design
        .lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("- ")?.trim_start().strip_prefix("**D")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            rest[digits.len()..].starts_with('.').then(|| digits.parse().ok()).flatten()
        })
        .collect()
}

/// Whether `c` can be part of an identifier (so a word boundary lies between it and a word).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The whole words of `line` (runs of identifier characters).
fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !is_word_char(c)).filter(|word| !word.is_empty())
}

/// The references in `text` to a decision `D<n>` that is not in `defined`, each starting with its
/// 1-based line number.
fn undefined_decisions(text: &str, defined: &BTreeSet<u32>) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        for word in words(line) {
            let Some(digits) = word.strip_prefix('D') else { continue };
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            if !digits.parse().is_ok_and(|n: u32| defined.contains(&n)) {
                problems.push(format!(
                    "{}: `{word}` is not a decision docs/DESIGN.md defines",
                    index + 1
                ));
            }
        }
    }
    problems
}

/// The references in `text` to a path or document outside the repository, each starting with its
/// 1-based line number.
fn outside_references(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let paths: Vec<&str> =
            OUTSIDE_PATHS.iter().copied().filter(|path| line.contains(path)).collect();
        // A document already reported as a path (`DECISIONS.md`) is not reported again.
        let documents: BTreeSet<&str> = words(line)
            .filter(|word| OUTSIDE_DOCUMENTS.contains(word))
            .filter(|word| !paths.iter().any(|path| path.starts_with(word)))
            .collect();
        for name in paths.iter().copied().chain(documents) {
            problems.push(format!(
                "{}: `{name}` is outside the repository; write the reason itself or cite a \
                 `D<n>` of docs/DESIGN.md",
                index + 1
            ));
        }
    }
    problems
}

/// Every file under `dir` that is text, skipping `.git`, `target` and any other cargo target
/// directory (one holding a `CACHEDIR.TAG`), and `Cargo.lock` (generated; its hashes are not
/// prose).
fn text_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            let skip = name == ".git" || name == "target" || path.join("CACHEDIR.TAG").exists();
            if !skip {
                text_files(&path, files);
            }
        } else if name != ".git" && name != "Cargo.lock" {
            files.push(path);
        }
    }
}

#[test]
fn references_name_defined_decisions_and_stay_inside_the_repository() {
    let root = project_root();
    let design = fs::read_to_string(root.join("docs").join("DESIGN.md")).unwrap();
    let defined = defined_decisions(&design);
    assert!(!defined.is_empty(), "docs/DESIGN.md defines no `**D<n>.` decision");
    for exempt in OUTSIDE_REFERENCE_EXEMPT.iter().chain([&REFERENCE_RULE_SOURCE]) {
        assert!(root.join(exempt).exists(), "exempt path {exempt} does not exist: remove it");
    }
    let mut files = Vec::new();
    text_files(root, &mut files);
    files.sort();
    assert!(files.iter().any(|file| file.ends_with("README.md")));
    let mut problems = Vec::new();
    let mut exempt_in_use = BTreeSet::new();
    for file in &files {
        let path = file.strip_prefix(root).unwrap_or(file);
        if path == Path::new(REFERENCE_RULE_SOURCE) {
            continue;
        }
        // Binary files hold no references.
        let Ok(text) = fs::read_to_string(file) else { continue };
        let outside = outside_references(&text);
        match OUTSIDE_REFERENCE_EXEMPT.iter().find(|prefix| path.starts_with(prefix)) {
            Some(prefix) if !outside.is_empty() => {
                exempt_in_use.insert(*prefix);
            }
            Some(_) => {}
            None => {
                problems
                    .extend(outside.iter().map(|problem| format!("{}:{problem}", path.display())));
            }
        }
        for problem in undefined_decisions(&text, &defined) {
            problems.push(format!("{}:{problem}", path.display()));
        }
    }
    for exempt in OUTSIDE_REFERENCE_EXEMPT {
        if !exempt_in_use.contains(exempt) {
            problems.push(format!(
                "{exempt} no longer cites anything outside the repository: remove it from \
                 OUTSIDE_REFERENCE_EXEMPT"
            ));
        }
    }
    assert_none(
        "references to undefined decisions or to documents outside the repository",
        &problems,
    );
}

#[test]
fn reference_rule() {
    let design = "# Design\n\n- **D1. One.** Text citing D2.\n  - **D2. Two.**\n- **D30** no dot\n\
                  - D4. not bold\n";
    let defined = defined_decisions(design);
    assert_eq!(defined, BTreeSet::from([1, 2]));
    let text = "// D1 and D2, D1–D2 (D1-D2).\n\
                // D3 is missing; so is DECISIONS.md D1.\n\
                // SEED §2.8, PEERS pain 1, ../shared/spec/README.md\n\
                let RNG_SEED = D1X + 0xD3; // the seed, CLIENTS.md, STYLE.md, DECISIONS\n";
    assert_eq!(
        outside_references(text),
        [
            "2: `DECISIONS.md` is outside the repository; write the reason itself or cite a \
             `D<n>` of docs/DESIGN.md",
            "3: `../shared` is outside the repository; write the reason itself or cite a `D<n>` \
             of docs/DESIGN.md",
            "3: `shared/spec` is outside the repository; write the reason itself or cite a \
             `D<n>` of docs/DESIGN.md",
            "3: `PEERS` is outside the repository; write the reason itself or cite a `D<n>` of \
             docs/DESIGN.md",
            "3: `SEED` is outside the repository; write the reason itself or cite a `D<n>` of \
             docs/DESIGN.md",
            "4: `CLIENTS.md` is outside the repository; write the reason itself or cite a \
             `D<n>` of docs/DESIGN.md",
            "4: `STYLE.md` is outside the repository; write the reason itself or cite a `D<n>` \
             of docs/DESIGN.md",
            "4: `DECISIONS` is outside the repository; write the reason itself or cite a `D<n>` \
             of docs/DESIGN.md",
        ]
    );
    assert_eq!(
        undefined_decisions(text, &defined),
        ["2: `D3` is not a decision docs/DESIGN.md defines"]
    );
}

/// The methods `clippy.toml` must disallow: durable writes belong to mac-storage's helpers
/// (atomic, fsynced, private), environment reads to the few injection points.
const DISALLOWED: [&str; 6] = [
    "std::fs::write",
    "std::fs::rename",
    "std::fs::remove_file",
    "std::env::var",
    "std::env::var_os",
    "std::env::vars",
];

/// The methods of [`DISALLOWED`] that the `clippy.toml` text does not disallow.
fn missing_disallowed(text: &str) -> Vec<&'static str> {
    let listed: Vec<&str> =
        text.split("path = \"").skip(1).filter_map(|rest| rest.split('"').next()).collect();
    DISALLOWED.into_iter().filter(|path| !listed.contains(path)).collect()
}

/// The lint of `disallowed-methods`, spelled in two pieces so this file's own rule fixtures
/// are not taken for exceptions.
const LINT: &str = concat!("clippy::", "disallowed_methods");

/// The 1-based lines of `text` where an `allow` or `expect` of `clippy::disallowed_methods`
/// has no `reason = "…"` before its attribute closes.
fn exceptions_without_reason(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    for (at, _) in text.match_indices(LINT) {
        let Some(start) = text[..at].rfind('#') else { continue };
        let attribute = &text[start..];
        let end = attribute.find(")]").map_or(attribute.len(), |end| end + 2);
        if !attribute[..end].contains("reason") {
            lines.push(text[..at].lines().count().max(1));
        }
    }
    lines
}

#[test]
fn durable_writes_and_environment_reads_go_through_their_helpers() {
    let text = fs::read_to_string(project_root().join("clippy.toml")).unwrap();
    let missing = missing_disallowed(&text);
    assert!(missing.is_empty(), "clippy.toml `disallowed-methods` lacks {missing:?}");
    let mut files = Vec::new();
    rust_files(project_root(), &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        for line in exceptions_without_reason(&fs::read_to_string(file).unwrap()) {
            problems.push(format!(
                "{}:{line}: allowing `clippy::disallowed_methods` needs `reason = \"why\"`",
                relative(file)
            ));
        }
    }
    assert_none("exceptions to the disallowed methods without a reason", &problems);
}

#[test]
fn disallowed_methods_rule() {
    let toml = "disallowed-methods = [\n  { path = \"std::fs::write\", reason = \"x\" },\n]\n";
    assert_eq!(missing_disallowed(toml).len(), 5);
    let text = "#[allow(LINT)]\nfn a() {}\n#[allow(\n    LINT,\n    reason = \"helper\"\n)]\n\
                fn b() {}\n#[allow(clippy::unwrap_used, LINT)]\n"
        .replace("LINT", LINT);
    assert_eq!(exceptions_without_reason(&text), [1, 8]);
}
