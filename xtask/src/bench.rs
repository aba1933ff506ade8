//! `cargo xtask bench [AREA]`: builds the `mac-tests` binaries in release and runs
//! `<target dir>/release/mac-bench AREA`, passing its output (a table) through. The areas are
//! whatever `mac-bench --list` prints, one per line.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::cargo::{cargo, display, run as run_command, target_dir};
use crate::project_root;

/// The benchmark driver, a binary of the `mac-tests` member.
const BENCH_BIN: &str = "mac-bench";

/// Runs `cargo xtask bench` with `args` (the arguments after `bench`).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let list = match args {
        [] => false,
        [flag] if matches!(flag.as_str(), "--list" | "--help" | "-h") => true,
        [area] if !area.starts_with('-') => false,
        _ => {
            return Err(format!(
                "usage: cargo xtask bench [AREA | --list], got `{}`",
                args.join(" ")
            ));
        }
    };
    build()?;
    let binary = binary()?;
    if !binary.is_file() {
        return Err(format!(
            "`{}` does not exist after building `mac-tests`; the benchmark driver must be a \
             `[[bin]]` named `{BENCH_BIN}` in tests/Cargo.toml",
            binary.display()
        ));
    }
    if list {
        println!("Usage: cargo xtask bench [AREA]   (default: all)\n\nAreas:");
        for area in list_areas(&binary)? {
            println!("  {area}");
        }
        return Ok(());
    }
    let area = args.first().map_or("all", String::as_str);
    let mut command = Command::new(&binary);
    command.arg(area).current_dir(project_root());
    eprintln!("==> {}", display(&command));
    run_command(&mut command)
}

/// Builds the `mac-tests` binaries in release.
fn build() -> Result<(), String> {
    let mut command = cargo();
    command.current_dir(project_root()).args(["build", "--release", "-p", "mac-tests", "--bins"]);
    eprintln!("==> {}", display(&command));
    run_command(&mut command)
}

/// Where the release `mac-bench` is, under the target directory.
fn binary() -> Result<PathBuf, String> {
    Ok(target_dir()?.join("release").join(format!("{BENCH_BIN}{}", std::env::consts::EXE_SUFFIX)))
}

/// The areas a built `mac-bench` lists, without building it (for `cargo xtask help`).
pub(crate) fn list_areas_without_building() -> Result<Vec<String>, String> {
    let binary = binary()?;
    if binary.is_file() {
        list_areas(&binary)
    } else {
        Err(format!("`{}` is not built yet", binary.display()))
    }
}

/// The areas `binary --list` prints, one per line.
fn list_areas(binary: &std::path::Path) -> Result<Vec<String>, String> {
    let output = Command::new(binary)
        .arg("--list")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|error| format!("could not run `{} --list`: {error}", binary.display()))?;
    if !output.status.success() {
        return Err(format!("`{} --list` failed ({})", binary.display(), output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_arguments_before_building() {
        let args = |list: &[&str]| list.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            run(&args(&["--fast"])).unwrap_err(),
            "usage: cargo xtask bench [AREA | --list], got `--fast`"
        );
        assert!(run(&args(&["store", "claims"])).is_err());
    }
}
