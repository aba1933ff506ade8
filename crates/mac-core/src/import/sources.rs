//! Where credentials to import live: the four kinds of source and the rules that find their
//! files from an environment lookup (tests pass a map; nothing reads the process environment
//! unless asked to with [`ImportSources::from_process_env`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use mac_storage::Provider;

/// OpenCode's own config directory, used verbatim when set (OpenCode itself does so).
pub const OPENCODE_CONFIG_DIR_ENV: &str = "OPENCODE_CONFIG_DIR";
/// Replaces `~/.claude` as Claude Code's directory when set.
pub const CLAUDE_CONFIG_DIR_ENV: &str = "CLAUDE_CONFIG_DIR";
/// Codex CLI's home directory (default `~/.codex`, as Codex CLI resolves it).
pub const CODEX_HOME_ENV: &str = "CODEX_HOME";

/// The TypeScript Anthropic plugin's pool file, in the OpenCode config directory (where the
/// plugin keeps it).
pub const ANTHROPIC_PLUGIN_POOL_FILE: &str = "anthropic-multi-account-accounts.json";
/// The TypeScript Codex plugin's pool file, in the OpenCode config directory (where the plugin
/// keeps it).
pub const OPENAI_PLUGIN_POOL_FILE: &str = "openai-multi-account-accounts.json";

/// What kind of file a source is, which decides how it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// OpenCode's `auth.json`: one OAuth credential per provider key (`anthropic`, `openai`).
    OpenCodeAuth,
    /// A TypeScript multi-account plugin's pool file: the seed's accounts document, every
    /// account with its state. The provider is the pool's.
    PluginPool(Provider),
    /// Claude Code's `.credentials.json` (`claudeAiOauth`).
    ClaudeCode,
    /// Codex CLI's `auth.json` (`tokens`).
    CodexCli,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceKind::OpenCodeAuth => f.write_str("OpenCode auth.json"),
            SourceKind::PluginPool(Provider::Anthropic) => {
                f.write_str("anthropic-multi-account plugin pool")
            }
            SourceKind::PluginPool(Provider::Codex) => {
                f.write_str("openai-multi-account plugin pool")
            }
            SourceKind::ClaudeCode => f.write_str("Claude Code credentials"),
            SourceKind::CodexCli => f.write_str("Codex CLI auth.json"),
        }
    }
}

/// One file to read, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// How to read it.
    pub kind: SourceKind,
    /// Where it is.
    pub path: PathBuf,
}

/// The files an import reads, in order. Files are only ever read: never written, never
/// locked (D3).
///
/// The order matters when two sources hold the same account: the first one found adds it (with
/// its state, for a plugin pool), later ones update it only with credentials that expire later.
/// [`ImportSources::locate`] therefore lists plugin pools first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSources {
    files: Vec<SourceFile>,
}

impl ImportSources {
    /// No sources: add explicit files with [`ImportSources::add`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Every known location, from the process environment: see [`ImportSources::locate`].
    #[allow(
        clippy::disallowed_methods,
        reason = "the injection point of the process environment into import discovery"
    )]
    pub fn from_process_env() -> Self {
        Self::locate(|key| std::env::var_os(key))
    }

    /// Every known location, found with an environment lookup (a variable set to the empty
    /// string counts as unset), in this order:
    ///
    /// 1. The plugins' pool files, [`ANTHROPIC_PLUGIN_POOL_FILE`] and
    ///    [`OPENAI_PLUGIN_POOL_FILE`], in OpenCode's config directory: `OPENCODE_CONFIG_DIR`,
    ///    else `$XDG_CONFIG_HOME/opencode`, else `~/.config/opencode` (on every OS: OpenCode uses
    ///    the XDG layout on macOS and Windows too).
    /// 2. OpenCode's `auth.json` in that config directory (where the seed read it), then in
    ///    OpenCode's data directory, where current versions keep it: `$XDG_DATA_HOME/opencode`,
    ///    else `~/.local/share/opencode`.
    /// 3. Claude Code's `.credentials.json` in `CLAUDE_CONFIG_DIR`, else `~/.claude`.
    /// 4. Codex CLI's `auth.json` in `CODEX_HOME`, else `~/.codex`.
    ///
    /// Home is `HOME`, else `USERPROFILE`. A location that needs a home when none is known is
    /// left out. The files need not exist: a missing one is reported as not found.
    pub fn locate(env: impl Fn(&str) -> Option<OsString>) -> Self {
        let var = |key: &str| env(key).filter(|value| !value.is_empty()).map(PathBuf::from);
        let home = var("HOME").or_else(|| var("USERPROFILE"));
        let under_home = |parts: &[&str]| home.as_ref().map(|home| join(home, parts));

        let config_dir = var(OPENCODE_CONFIG_DIR_ENV).or_else(|| {
            var("XDG_CONFIG_HOME")
                .map(|base| base.join("opencode"))
                .or_else(|| under_home(&[".config", "opencode"]))
        });
        let data_dir = var("XDG_DATA_HOME")
            .map(|base| base.join("opencode"))
            .or_else(|| under_home(&[".local", "share", "opencode"]));
        let claude_dir = var(CLAUDE_CONFIG_DIR_ENV).or_else(|| under_home(&[".claude"]));
        let codex_dir = var(CODEX_HOME_ENV).or_else(|| under_home(&[".codex"]));

        let mut sources = Self::new();
        if let Some(dir) = &config_dir {
            sources.add(
                SourceKind::PluginPool(Provider::Anthropic),
                dir.join(ANTHROPIC_PLUGIN_POOL_FILE),
            );
            sources.add(SourceKind::PluginPool(Provider::Codex), dir.join(OPENAI_PLUGIN_POOL_FILE));
        }
        for dir in [&config_dir, &data_dir].into_iter().flatten() {
            sources.add(SourceKind::OpenCodeAuth, dir.join("auth.json"));
        }
        if let Some(dir) = claude_dir {
            sources.add(SourceKind::ClaudeCode, dir.join(".credentials.json"));
        }
        if let Some(dir) = codex_dir {
            sources.add(SourceKind::CodexCli, dir.join("auth.json"));
        }
        sources
    }

    /// Adds a file to read as `kind` (an explicit path, say from `mac import --from`). A file
    /// already listed with the same kind is not added twice.
    pub fn add(&mut self, kind: SourceKind, path: impl Into<PathBuf>) -> &mut Self {
        let file = SourceFile { kind, path: path.into() };
        if !self.files.contains(&file) {
            self.files.push(file);
        }
        self
    }

    /// [`ImportSources::add`], by value.
    #[must_use]
    pub fn with(mut self, kind: SourceKind, path: impl Into<PathBuf>) -> Self {
        self.add(kind, path);
        self
    }

    /// The files, in reading order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }
}

fn join(base: &Path, parts: &[&str]) -> PathBuf {
    parts.iter().fold(base.to_path_buf(), |path, part| path.join(part))
}
