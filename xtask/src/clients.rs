//! `cargo xtask clients`: installs the real coding agents that the real-client tests drive
//! through `mac serve` — Claude Code, Codex CLI and OpenCode, from the npm registry — into
//! `<target dir>/clients`, at the versions pinned in `xtask/clients/package.json` and its
//! `package-lock.json` (the one place they are named). Nothing is installed when what is there
//! already matches the pins, so CI and developers can run it before every test run.
//!
//! Why `npm install --no-save` with the lock and not `npm ci`: the registry these machines reach
//! serves only the Linux x64 builds of `opencode-ai`'s per-platform packages (the others answer
//! 404), so the lock cannot list them, and `npm ci` refuses such a lock ("Missing:
//! opencode-darwin-arm64 from lock file"). `npm install` with the lock in place installs exactly
//! the locked versions, checked against the lock's integrity hashes, skips the optional packages
//! of other platforms, and with `--no-save` rewrites neither file. Whether the result matches
//! the pins is checked here afterwards, package by package.
//!
//! `@ai-sdk/anthropic` is not installed: OpenCode 1.18 bundles it (a provider declared with
//! `"npm": "@ai-sdk/anthropic"` runs offline with no copy of that package on disk).

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::cargo::{display, run as run_command, target_dir};
use crate::project_root;

/// The pinned manifest, in the pins directory.
const MANIFEST: &str = "package.json";
/// The pinned lock, in the pins directory.
const LOCK: &str = "package-lock.json";
/// The install prefix under the target directory; the real-client tests
/// (crates/mac-cli/tests/it/real_clients.rs) look for the clients there.
const INSTALL_DIR: &str = "clients";
/// How to get Node.js and npm, for the error when they are missing.
const NODE_HINT: &str = "install Node.js 18 or later with npm (Debian/Ubuntu: `apt-get install \
                         nodejs npm`, or a current release from NodeSource: \
                         https://github.com/nodesource/distributions)";

/// Runs `cargo xtask clients`.
pub(crate) fn run() -> Result<(), String> {
    let pins_dir = pins_dir();
    let pins = Pins::load(&pins_dir)?;
    let prefix = target_dir()?.join(INSTALL_DIR);
    let stale = pins.mismatches(&prefix);
    if stale.is_empty() {
        println!(
            "clients: the pinned versions are installed in {}; nothing to do",
            prefix.display()
        );
    } else {
        eprintln!("clients: installing into {} ({})", prefix.display(), stale.join("; "));
        let started = Instant::now();
        for tool in ["node", "npm"] {
            let version = tool_version(tool)?;
            eprintln!("clients: {tool} {version}");
        }
        install(&pins_dir, &prefix)?;
        let still = pins.mismatches(&prefix);
        if !still.is_empty() {
            return Err(format!(
                "npm finished but the installed clients do not match {}: {}",
                relative(&pins_dir.join(MANIFEST)),
                still.join("; ")
            ));
        }
        println!("clients: installed in {:.1}s", started.elapsed().as_secs_f64());
    }
    print!("{}", pins.summary(&prefix));
    Ok(())
}

/// The directory holding the pinned `package.json` and `package-lock.json`.
fn pins_dir() -> PathBuf {
    project_root().join("xtask").join("clients")
}

/// `path` relative to the workspace root, for messages.
fn relative(path: &Path) -> String {
    path.strip_prefix(project_root()).unwrap_or(path).display().to_string()
}

/// The pinned packages and every version the lock resolves.
#[derive(Debug)]
struct Pins {
    /// The manifest's `dependencies`: name and exact version, in file order.
    packages: Vec<(String, String)>,
    /// The lock's `packages` entries under `node_modules/`: install path and version.
    locked: Vec<(String, String)>,
}

impl Pins {
    /// Reads and checks the manifest and the lock in `dir`.
    fn load(dir: &Path) -> Result<Self, String> {
        let manifest_path = dir.join(MANIFEST);
        let lock_path = dir.join(LOCK);
        let manifest = read_json(&manifest_path)?;
        let lock = read_json(&lock_path)?;
        Self::from_json(&manifest, &lock).map_err(|error| {
            format!("{} / {}: {error}", relative(&manifest_path), relative(&lock_path))
        })
    }

    /// The pins of `manifest` and `lock`: every dependency an exact version, and the lock
    /// generated from this very manifest.
    fn from_json(manifest: &Value, lock: &Value) -> Result<Self, String> {
        let dependencies = manifest
            .get("dependencies")
            .and_then(Value::as_object)
            .ok_or("package.json has no `dependencies` object")?;
        let mut packages = Vec::new();
        for (name, version) in dependencies {
            let version = version.as_str().filter(|v| is_exact_version(v)).ok_or_else(|| {
                format!(
                    "package.json: `dependencies.{name}` is {version}, not an exact version; \
                     pin one version (such as `1.2.3`) so every machine runs the same client"
                )
            })?;
            packages.push((name.clone(), version.to_owned()));
        }
        if packages.is_empty() {
            return Err("package.json pins no client in `dependencies`".to_owned());
        }
        let entries = lock
            .get("packages")
            .and_then(Value::as_object)
            .ok_or("package-lock.json has no `packages` object (lockfileVersion 2 or later)")?;
        let root = entries.get("").and_then(|root| root.get("dependencies"));
        if root != manifest.get("dependencies") {
            return Err("package-lock.json was not generated from this package.json; run \
                        `npm install --package-lock-only --prefix xtask/clients` and commit both"
                .to_owned());
        }
        let locked = entries
            .iter()
            .filter(|(path, _)| path.starts_with("node_modules/"))
            .filter_map(|(path, entry)| {
                Some((path.clone(), entry.get("version")?.as_str()?.to_owned()))
            })
            .collect();
        Ok(Self { packages, locked })
    }

    /// What differs between the pins and the install under `prefix`, one phrase per problem;
    /// empty when the pinned versions are installed with their commands. Locked packages for
    /// other platforms are absent by design, so only those present are compared.
    fn mismatches(&self, prefix: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, pinned) in &self.packages {
            match installed_manifest(prefix, &format!("node_modules/{name}")) {
                None => problems.push(format!("{name} is not installed")),
                Some(manifest) => {
                    let version = manifest.get("version").and_then(Value::as_str).unwrap_or("?");
                    if version != pinned {
                        problems.push(format!("{name} {version} is installed, {pinned} pinned"));
                    }
                    for command in commands(name, &manifest) {
                        if !command_path(prefix, &command).is_file() {
                            problems.push(format!("{name}: command `{command}` is missing"));
                        }
                    }
                }
            }
        }
        for (path, locked) in &self.locked {
            // The pinned packages themselves were compared above.
            let pinned = path
                .strip_prefix("node_modules/")
                .is_some_and(|name| self.packages.iter().any(|(pin, _)| pin == name));
            if pinned {
                continue;
            }
            let version = installed_manifest(prefix, path)
                .and_then(|manifest| manifest.get("version")?.as_str().map(str::to_owned));
            if let Some(version) = version.filter(|version| version != locked) {
                problems.push(format!("{path} {version} is installed, {locked} locked"));
            }
        }
        problems
    }

    /// One line per pinned package: its version and where its commands are.
    fn summary(&self, prefix: &Path) -> String {
        let mut text = String::new();
        for (name, version) in &self.packages {
            let commands = installed_manifest(prefix, &format!("node_modules/{name}"))
                .map(|manifest| commands(name, &manifest))
                .unwrap_or_default();
            let paths: Vec<String> =
                commands.iter().map(|c| command_path(prefix, c).display().to_string()).collect();
            let _ = writeln!(text, "  {name} {version}: {}", paths.join(", "));
        }
        text
    }
}

/// Whether `version` names one version (`1.2.3`, `1.2.3-beta.1`), not a range or a tag.
fn is_exact_version(version: &str) -> bool {
    let core = version.split_once(['-', '+']).map_or(version, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()))
}

/// The parsed `package.json` of the package installed at `path` (relative to `prefix`).
fn installed_manifest(prefix: &Path, path: &str) -> Option<Value> {
    let text = std::fs::read_to_string(prefix.join(path).join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// The commands a package's manifest declares (`bin`: one string, named after the package
/// without its scope, or a map of names).
fn commands(name: &str, manifest: &Value) -> Vec<String> {
    match manifest.get("bin") {
        Some(Value::String(_)) => {
            vec![name.rsplit('/').next().unwrap_or(name).to_owned()]
        }
        Some(Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Where npm links `command` under `prefix`.
fn command_path(prefix: &Path, command: &str) -> PathBuf {
    prefix.join("node_modules").join(".bin").join(command)
}

/// Reads `path` as JSON.
fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", relative(path)))?;
    serde_json::from_str(&text).map_err(|error| format!("{} is not JSON: {error}", relative(path)))
}

/// The first line `tool --version` prints; a clear error naming `tool` when it is missing.
fn tool_version(tool: &str) -> Result<String, String> {
    let output = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => format!(
                "`{tool}` is not on PATH; the real clients are installed with npm and Codex CLI's \
                 launcher runs on node: {NODE_HINT}"
            ),
            _ => format!("could not run `{tool} --version`: {error}; {NODE_HINT}"),
        })?;
    if !output.status.success() {
        return Err(format!("`{tool} --version` failed ({}); {NODE_HINT}", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or("").trim().to_owned())
}

/// Copies the pins into `prefix` and installs them there.
fn install(pins_dir: &Path, prefix: &Path) -> Result<(), String> {
    std::fs::create_dir_all(prefix)
        .map_err(|error| format!("cannot create {}: {error}", prefix.display()))?;
    for file in [MANIFEST, LOCK] {
        std::fs::copy(pins_dir.join(file), prefix.join(file)).map_err(|error| {
            format!(
                "cannot copy {} into {}: {error}",
                relative(&pins_dir.join(file)),
                prefix.display()
            )
        })?;
    }
    let mut command = Command::new("npm");
    command
        .current_dir(prefix)
        .arg("install")
        .arg("--prefix")
        .arg(prefix)
        .args(["--no-save", "--no-audit", "--no-fund", "--update-notifier=false"])
        .stdin(Stdio::null());
    eprintln!("==> {}", display(&command));
    run_command(&mut command)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("xtask-clients-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// Writes `json` as `node_modules/<path>/package.json`.
        fn package(&self, path: &str, json: &Value) {
            let dir = self.0.join(path);
            std::fs::create_dir_all(&dir).unwrap();
            let file = std::fs::File::create(dir.join(MANIFEST)).unwrap();
            serde_json::to_writer(file, json).unwrap();
        }

        fn command(&self, name: &str) {
            let bin = self.0.join("node_modules").join(".bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::File::create(bin.join(name)).unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn manifest() -> Value {
        json!({ "dependencies": { "@scope/tool": "1.2.3", "other": "0.1.0" } })
    }

    fn lock() -> Value {
        json!({ "packages": {
            "": { "dependencies": { "@scope/tool": "1.2.3", "other": "0.1.0" } },
            "node_modules/@scope/tool": { "version": "1.2.3" },
            "node_modules/@scope/tool-linux-x64": { "version": "1.2.3" },
            "node_modules/@scope/tool-darwin-arm64": { "version": "1.2.3" },
            "node_modules/other": { "version": "0.1.0" },
        }})
    }

    #[test]
    fn the_committed_pins_are_exact_and_consistent() {
        let pins = Pins::load(&pins_dir()).unwrap();
        let names: Vec<&str> = pins.packages.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["@anthropic-ai/claude-code", "@openai/codex", "opencode-ai"]);
    }

    #[test]
    fn ranges_tags_and_stale_locks_are_refused() {
        assert!(is_exact_version("2.1.337") && is_exact_version("1.0.0-beta.2"));
        for range in ["^1.2.3", "~1.2.3", "1.2", "latest", ">=1.0.0", "1.2.x", "*"] {
            assert!(!is_exact_version(range), "{range}");
        }
        let error =
            Pins::from_json(&json!({ "dependencies": { "a": "^1.0.0" } }), &lock()).unwrap_err();
        assert!(error.contains("`dependencies.a` is \"^1.0.0\", not an exact version"), "{error}");
        let mut stale = lock();
        stale["packages"][""]["dependencies"]["other"] = json!("0.2.0");
        let error = Pins::from_json(&manifest(), &stale).unwrap_err();
        assert!(error.contains("was not generated from this package.json"), "{error}");
    }

    #[test]
    fn an_install_matches_only_with_the_pinned_versions_and_their_commands() {
        let pins = Pins::from_json(&manifest(), &lock()).unwrap();
        let scratch = Scratch::new("match");
        assert_eq!(
            pins.mismatches(&scratch.0),
            ["@scope/tool is not installed", "other is not installed"]
        );
        scratch.package("node_modules/@scope/tool", &json!({ "version": "1.2.3", "bin": "x.js" }));
        scratch.package("node_modules/@scope/tool-linux-x64", &json!({ "version": "1.2.2" }));
        scratch.package(
            "node_modules/other",
            &json!({ "version": "0.0.9", "bin": { "other-a": "a", "other-b": "b" } }),
        );
        scratch.command("other-a");
        assert_eq!(
            pins.mismatches(&scratch.0),
            [
                "@scope/tool: command `tool` is missing",
                "other 0.0.9 is installed, 0.1.0 pinned",
                "other: command `other-b` is missing",
                "node_modules/@scope/tool-linux-x64 1.2.2 is installed, 1.2.3 locked",
            ]
        );
        scratch.package("node_modules/@scope/tool-linux-x64", &json!({ "version": "1.2.3" }));
        scratch.package(
            "node_modules/other",
            &json!({ "version": "0.1.0", "bin": { "other-a": "a", "other-b": "b" } }),
        );
        scratch.command("tool");
        scratch.command("other-b");
        // The darwin package of the lock is absent, as on every Linux machine.
        assert_eq!(pins.mismatches(&scratch.0), Vec::<String>::new());
        let summary = pins.summary(&scratch.0);
        assert!(summary.contains("  @scope/tool 1.2.3: "), "{summary}");
        assert!(summary.contains("node_modules/.bin/other-b"), "{summary}");
    }

    #[test]
    fn a_missing_tool_is_named_with_the_hint() {
        let error = tool_version("mac-xtask-no-such-tool").unwrap_err();
        assert!(error.starts_with("`mac-xtask-no-such-tool` is not on PATH"), "{error}");
        assert!(error.contains("apt-get install nodejs npm"), "{error}");
        assert!(error.contains("nodesource"), "{error}");
    }
}
