//! Where mac keeps its files (D1, D2): one data directory, resolved once from the
//! environment a caller hands in, and the per-provider file names inside it.
//!
//! No path here is process-global: a [`DataDir`] is a value, and every store, claims table and
//! lock is built from one (the seed's process-global file names let two providers' plugins
//! share one accounts file and send one provider's tokens to the other).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, DirBuilder};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use snafu::{ResultExt, Snafu};

/// The environment variable that names the data directory outright.
pub const MAC_HOME_ENV: &str = "MAC_HOME";

/// The mode of the data directory: owner only.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;

/// A provider pool: which OAuth provider its accounts belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Provider {
    /// Claude Pro/Max subscriptions through Claude Code's OAuth.
    Anthropic,
    /// ChatGPT Plus/Pro subscriptions through Codex's OAuth.
    Codex,
}

impl Provider {
    /// Every provider, in display order.
    pub const ALL: [Provider; 2] = [Provider::Anthropic, Provider::Codex];

    /// The provider's name in file names, config sections and the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Codex => "codex",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A provider name that is neither `anthropic` nor `codex`.
#[derive(Debug, Snafu)]
#[snafu(display("unknown provider {name:?}: expected `anthropic` or `codex`"))]
pub struct UnknownProvider {
    name: String,
}

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "anthropic" => Ok(Provider::Anthropic),
            "codex" => Ok(Provider::Codex),
            _ => UnknownProviderSnafu { name }.fail(),
        }
    }
}

/// Why the data directory could not be found or created.
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum DataDirError {
    /// Neither `MAC_HOME` nor a home or config directory is known.
    #[snafu(display(
        "cannot find a data directory: set {MAC_HOME_ENV} (or HOME / XDG_CONFIG_HOME) to choose one"
    ))]
    NoHome,
    /// Creating the directory or fixing its mode failed.
    #[snafu(display("cannot prepare the data directory {}: {source}", path.display()))]
    Prepare {
        /// The directory.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
}

/// The directory holding every mac file: accounts, claims, locks and `config.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data directory at an explicit path (tests, `--data-dir`).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Resolves the directory from the process environment: see [`DataDir::resolve`].
    #[allow(
        clippy::disallowed_methods,
        reason = "the injection point of the process environment into the data directory"
    )]
    pub fn from_process_env() -> Result<Self, DataDirError> {
        Self::resolve(|key| std::env::var_os(key))
    }

    /// Resolves the directory from an environment lookup (D1): `MAC_HOME` if set and non-empty,
    /// else the platform config directory plus `mac` — on Linux and other Unixes
    /// `$XDG_CONFIG_HOME/mac` or `$HOME/.config/mac`; on macOS
    /// `$HOME/Library/Application Support/mac`; on Windows `%APPDATA%\mac`.
    ///
    /// The lookup is a parameter so that tests never touch the process environment.
    pub fn resolve(env: impl Fn(&str) -> Option<OsString>) -> Result<Self, DataDirError> {
        let non_empty = |key: &str| env(key).filter(|value| !value.is_empty());
        if let Some(home) = non_empty(MAC_HOME_ENV) {
            return Ok(Self::at(home));
        }
        platform_config_dir(&non_empty)
            .map(|base| Self::at(base.join("mac")))
            .ok_or(DataDirError::NoHome)
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Creates the directory (and its parents) if missing, with mode `0700`; an existing
    /// directory whose mode lets others in is tightened to `0700`.
    pub fn ensure(&self) -> Result<(), DataDirError> {
        let path = &self.root;
        let mut builder = DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(DIR_MODE);
        }
        builder.create(path).context(PrepareSnafu { path })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).context(PrepareSnafu { path })?.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format_args!("{mode:o}"), "tightening data directory to 0700");
                fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE))
                    .context(PrepareSnafu { path })?;
            }
        }
        Ok(())
    }

    /// `<provider>-accounts.json`: the provider's account pool.
    pub fn accounts_file(&self, provider: Provider) -> PathBuf {
        self.root.join(format!("{provider}-accounts.json"))
    }

    /// `<provider>-claims.json`: which live process holds which account.
    pub fn claims_file(&self, provider: Provider) -> PathBuf {
        self.root.join(format!("{provider}-claims.json"))
    }

    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }
}

/// The sidecar lock file of a data file: `<file>.lock`, beside it, never deleted (D5). Only
/// platforms that cannot lock a directory use it for [`crate::file::LockedFile`]; on Unix the
/// directory itself is locked (see `mac_storage::file`).
pub fn lock_path_for(file: &Path) -> PathBuf {
    with_suffix(file, ".lock")
}

/// The name every temp file of `file` starts with: `<file name>.tmp` (each writer appends its
/// own unique tail; the stale-file sweep matches this prefix).
pub(crate) fn temp_prefix_for(file: &Path) -> std::ffi::OsString {
    let mut name = file.file_name().map(std::ffi::OsStr::to_owned).unwrap_or_default();
    name.push(".tmp");
    name
}

pub(crate) fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_config_dir(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".config")))
}

#[cfg(target_os = "macos")]
fn platform_config_dir(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    env("HOME").map(|home| PathBuf::from(home).join("Library").join("Application Support"))
}

#[cfg(windows)]
fn platform_config_dir(env: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    env("APPDATA").map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(vars: &[(&str, &str)]) -> Result<DataDir, DataDirError> {
        let map: HashMap<String, OsString> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), OsString::from(v))).collect();
        DataDir::resolve(|key| map.get(key).cloned())
    }

    #[test]
    fn mac_home_wins() {
        let dir = resolve(&[("MAC_HOME", "/srv/mac"), ("HOME", "/home/u")]).unwrap();
        assert_eq!(dir.path(), Path::new("/srv/mac"));
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn xdg_then_home_on_linux() {
        let xdg = resolve(&[("MAC_HOME", ""), ("XDG_CONFIG_HOME", "/x"), ("HOME", "/home/u")]);
        assert_eq!(xdg.unwrap().path(), Path::new("/x/mac"));
        let relative_xdg = resolve(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/home/u")]);
        assert_eq!(relative_xdg.unwrap().path(), Path::new("/home/u/.config/mac"));
        let home = resolve(&[("HOME", "/home/u")]).unwrap();
        assert_eq!(home.path(), Path::new("/home/u/.config/mac"));
    }

    #[test]
    fn nothing_known_is_a_clear_error() {
        let err = resolve(&[]).unwrap_err();
        assert!(err.to_string().contains("set MAC_HOME"), "{err}");
    }

    #[test]
    fn provider_file_names() {
        let dir = DataDir::at("/d");
        assert_eq!(dir.accounts_file(Provider::Anthropic), Path::new("/d/anthropic-accounts.json"));
        assert_eq!(dir.claims_file(Provider::Codex), Path::new("/d/codex-claims.json"));
        assert_eq!(
            lock_path_for(&dir.accounts_file(Provider::Codex)),
            Path::new("/d/codex-accounts.json.lock")
        );
        assert_eq!("codex".parse::<Provider>().unwrap(), Provider::Codex);
        assert!(
            "openai"
                .parse::<Provider>()
                .unwrap_err()
                .to_string()
                .contains("`anthropic` or `codex`")
        );
    }

    #[cfg(unix)]
    #[test]
    fn ensure_creates_0700_and_tightens() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::at(tmp.path().join("a/b/mac"));
        dir.ensure().unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        dir.ensure().unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
