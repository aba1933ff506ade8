//! `docs/CLI.md` is the rendering of the clap definitions, and completions are generated.

use std::path::PathBuf;

use mac_test_support::TempDataDir;

use crate::support::{mac, stdout};

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/CLI.md")
}

#[test]
fn cli_doc_equals_the_argument_definitions() {
    let rendered = mac_cli::cli_doc::render();
    if std::env::var_os("MAC_UPDATE_DOCS").is_some() {
        std::fs::write(doc_path(), &rendered).unwrap();
    }
    let on_disk = std::fs::read_to_string(doc_path()).unwrap_or_default();
    assert!(
        on_disk == rendered,
        "docs/CLI.md differs from crates/mac-cli/src/args.rs; regenerate it with \
         `MAC_UPDATE_DOCS=1 cargo test -p mac-cli --test it cli_doc`"
    );
    for command in [
        "mac login",
        "mac accounts add",
        "mac status",
        "mac import",
        "mac config check",
        "mac doctor",
        "mac menu",
        "mac completions",
    ] {
        assert!(rendered.contains(&format!("## `{command}`")), "{command}");
    }
}

#[test]
fn completions_for_every_shell() {
    let dir = TempDataDir::new().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = mac(&dir).args(["completions", shell]).output().unwrap();
        assert!(output.status.success(), "{shell}");
        assert!(stdout(&output).contains("accounts"), "{shell}");
    }
}

#[test]
fn help_lists_every_command() {
    let dir = TempDataDir::new().unwrap();
    let help = stdout(&mac(&dir).arg("--help").output().unwrap());
    for command in
        ["login", "accounts", "status", "import", "config", "doctor", "menu", "completions"]
    {
        assert!(help.contains(&format!("  {command} ")), "{command}: {help}");
    }
}
