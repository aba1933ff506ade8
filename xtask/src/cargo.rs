//! Running cargo: the command to invoke (the one that started xtask), running a child command
//! with a clear error, and the few fields of `cargo metadata --no-deps` xtask reads.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::project_root;

/// A `cargo` command, using the same cargo binary that runs xtask (`$CARGO`) when known, so the
/// checks use the same toolchain. The environment is inherited (one shared target directory).
#[allow(clippy::disallowed_methods, reason = "cargo passes its own binary to xtask in `$CARGO`")]
pub(crate) fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// `command` as a user would type it, for messages.
pub(crate) fn display(command: &Command) -> String {
    let program = Path::new(command.get_program())
        .file_name()
        .unwrap_or(command.get_program())
        .to_string_lossy()
        .into_owned();
    let mut text = String::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            let _ = write!(text, "{}={} ", key.to_string_lossy(), quote(&value.to_string_lossy()));
        }
    }
    text.push_str(&program);
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&quote(&arg.to_string_lossy()));
    }
    text
}

/// Quotes `word` for display if it contains spaces.
fn quote(word: &str) -> String {
    if word.contains(' ') { format!("'{word}'") } else { word.to_owned() }
}

/// Runs `command` with inherited stdio and fails unless it exits successfully.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("could not start `{}`: {error}", display(command)))?;
    if status.success() { Ok(()) } else { Err(format!("`{}` failed ({status})", display(command))) }
}

/// The target directory cargo builds into: `$CARGO_TARGET_DIR` if set (relative to the
/// workspace root, as cargo reads it there), else the one `cargo metadata` reports.
#[allow(
    clippy::disallowed_methods,
    reason = "cargo's `$CARGO_TARGET_DIR` decides where built and installed artefacts live"
)]
pub(crate) fn target_dir() -> Result<PathBuf, String> {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => Ok(project_root().join(dir)),
        _ => Ok(Metadata::load(Some(&project_root().join("Cargo.toml")))?.target_directory),
    }
}

/// Whether `cargo nextest` is installed (its `--version` succeeds).
pub(crate) fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The kind of a dependency edge, as `cargo metadata` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DepKind {
    /// `[dependencies]`.
    Normal,
    /// `[dev-dependencies]`.
    Dev,
    /// `[build-dependencies]`.
    Build,
}

/// One declared dependency of a workspace member.
#[derive(Clone, Debug)]
pub(crate) struct Dependency {
    /// The package name (not the rename, if any).
    pub(crate) name: String,
    /// Which table declares it.
    pub(crate) kind: DepKind,
}

/// One build target (lib, bin, test, ...) of a workspace member.
#[cfg_attr(not(test), allow(dead_code, reason = "read by the tidy tests"))]
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Its kinds, such as `lib` or `bin`.
    pub(crate) kinds: Vec<String>,
    /// The path of its root source file.
    pub(crate) src_path: PathBuf,
}

/// A workspace member.
#[derive(Clone, Debug)]
pub(crate) struct Package {
    /// The package name.
    pub(crate) name: String,
    /// The path of its `Cargo.toml`.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tidy tests"))]
    pub(crate) manifest_path: PathBuf,
    /// Its declared dependencies, all kinds and targets.
    pub(crate) dependencies: Vec<Dependency>,
    /// Its targets.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tidy tests"))]
    pub(crate) targets: Vec<Target>,
}

/// What xtask reads from `cargo metadata --format-version 1 --no-deps`.
#[derive(Clone, Debug)]
pub(crate) struct Metadata {
    /// The workspace root directory.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tidy tests"))]
    pub(crate) workspace_root: PathBuf,
    /// The target directory cargo builds into.
    pub(crate) target_directory: PathBuf,
    /// The workspace members, sorted by name.
    pub(crate) members: Vec<Package>,
}

impl Metadata {
    /// Runs `cargo metadata --format-version 1 --no-deps`, for `manifest_path` if given, else for
    /// the workspace around the current directory. `--no-deps` resolves nothing, so it needs no
    /// network and writes no `Cargo.lock`.
    pub(crate) fn load(manifest_path: Option<&Path>) -> Result<Self, String> {
        let mut command = cargo();
        command.args(["metadata", "--format-version", "1", "--no-deps"]);
        if let Some(path) = manifest_path {
            command.arg("--manifest-path").arg(path);
        }
        let output = command
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|error| format!("could not start `{}`: {error}", display(&command)))?;
        if !output.status.success() {
            return Err(format!("`{}` failed ({})", display(&command), output.status));
        }
        let json: Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| format!("`{}` printed invalid JSON: {error}", display(&command)))?;
        Self::from_json(&json)
            .map_err(|error| format!("unexpected output of `{}`: {error}", display(&command)))
    }

    /// Reads the fields xtask needs from the JSON of `cargo metadata --format-version 1`.
    pub(crate) fn from_json(json: &Value) -> Result<Self, String> {
        let members: Vec<&str> = array(json, "workspace_members")?
            .iter()
            .map(|id| id.as_str().ok_or("a `workspace_members` entry is not a string"))
            .collect::<Result<_, _>>()?;
        let mut packages = Vec::new();
        for package in array(json, "packages")? {
            if members.contains(&string(package, "id")?) {
                packages.push(Package::from_json(package)?);
            }
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Self {
            workspace_root: PathBuf::from(string(json, "workspace_root")?),
            target_directory: PathBuf::from(string(json, "target_directory")?),
            members: packages,
        })
    }

    /// The member named `name`, if any.
    pub(crate) fn member(&self, name: &str) -> Option<&Package> {
        self.members.iter().find(|package| package.name == name)
    }
}

impl Package {
    /// Reads one entry of `packages`.
    fn from_json(json: &Value) -> Result<Self, String> {
        let name = string(json, "name")?.to_owned();
        let dependencies = array(json, "dependencies")?
            .iter()
            .map(|dep| {
                let kind = match dep.get("kind").and_then(Value::as_str) {
                    None => DepKind::Normal,
                    Some("dev") => DepKind::Dev,
                    Some("build") => DepKind::Build,
                    Some(other) => {
                        return Err(format!("{name}: unknown dependency kind `{other}`"));
                    }
                };
                Ok(Dependency { name: string(dep, "name")?.to_owned(), kind })
            })
            .collect::<Result<_, String>>()?;
        let targets = array(json, "targets")?
            .iter()
            .map(|target| {
                let kinds = array(target, "kind")?
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                Ok(Target { kinds, src_path: PathBuf::from(string(target, "src_path")?) })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            manifest_path: PathBuf::from(string(json, "manifest_path")?),
            name,
            dependencies,
            targets,
        })
    }

    /// The root source file of its library target, else of its first binary target.
    #[cfg_attr(not(test), allow(dead_code, reason = "read by the tidy tests"))]
    pub(crate) fn crate_root(&self) -> Option<&Path> {
        let with_kind = |kind: &str| {
            self.targets
                .iter()
                .find(|target| target.kinds.iter().any(|k| k == kind))
                .map(|target| target.src_path.as_path())
        };
        with_kind("lib").or_else(|| with_kind("bin"))
    }
}

/// The string field `key` of `json`.
fn string<'a>(json: &'a Value, key: &str) -> Result<&'a str, String> {
    json.get(key).and_then(Value::as_str).ok_or_else(|| format!("missing string field `{key}`"))
}

/// The array field `key` of `json`.
fn array<'a>(json: &'a Value, key: &str) -> Result<&'a [Value], String> {
    json.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("missing array field `{key}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_members_dependencies_and_targets() {
        let json = serde_json::json!({
            "packages": [
                {
                    "name": "b", "id": "b-id", "manifest_path": "/w/b/Cargo.toml",
                    "dependencies": [
                        {"name": "a", "kind": null},
                        {"name": "x", "kind": "dev"},
                        {"name": "y", "kind": "build"}
                    ],
                    "targets": [
                        {"kind": ["bin"], "src_path": "/w/b/src/main.rs"},
                        {"kind": ["lib"], "src_path": "/w/b/src/lib.rs"}
                    ]
                },
                {
                    "name": "a", "id": "a-id", "manifest_path": "/w/a/Cargo.toml",
                    "dependencies": [],
                    "targets": [{"kind": ["bin"], "src_path": "/w/a/src/main.rs"}]
                },
                {
                    "name": "not-a-member", "id": "z-id", "manifest_path": "/z/Cargo.toml",
                    "dependencies": [], "targets": []
                }
            ],
            "workspace_members": ["a-id", "b-id"],
            "workspace_root": "/w",
            "target_directory": "/w/target"
        });
        let metadata = Metadata::from_json(&json).unwrap();
        let names: Vec<&str> = metadata.members.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(metadata.target_directory, Path::new("/w/target"));
        let b = metadata.member("b").unwrap();
        let kinds: Vec<(&str, DepKind)> =
            b.dependencies.iter().map(|d| (d.name.as_str(), d.kind)).collect();
        assert_eq!(kinds, [("a", DepKind::Normal), ("x", DepKind::Dev), ("y", DepKind::Build)]);
        assert_eq!(b.crate_root(), Some(Path::new("/w/b/src/lib.rs")));
        assert_eq!(metadata.member("a").unwrap().crate_root(), Some(Path::new("/w/a/src/main.rs")));
    }

    #[test]
    fn rejects_malformed_output() {
        let error = Metadata::from_json(&serde_json::json!({"packages": []})).unwrap_err();
        assert_eq!(error, "missing array field `workspace_members`");
    }
}
