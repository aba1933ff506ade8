//! Project automation for `mac`: `cargo xtask ci` runs every check CI runs, `cargo xtask layers`
//! checks the crate layering and the external deny-list, `cargo xtask bench` runs the benchmark
//! driver, `cargo xtask clients` installs the pinned real clients the gateway is tested with;
//! the tidy rules run as ordinary tests of this crate, so `cargo nextest run --workspace`
//! enforces them together with the layering.
//!
//! Must not depend on: any `mac-*` crate (it checks them), and nothing beyond std and
//! `serde_json` (xtask stays small so it builds fast on a fresh machine).

// xtask is a command-line tool: it reports progress and results on stdout and stderr.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod cargo;
mod ci;
mod clients;
mod layers;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The text `cargo xtask help` prints (the bench areas are appended when they can be listed).
const USAGE: &str = "\
Usage: cargo xtask <COMMAND>

Commands:
  ci                          Run every CI check in order, stopping at the first failure:
                              fmt, clippy, clients, tests (nextest if installed, else cargo
                              test), doctests, rustdoc (-D warnings), layers, standalone
  layers [--manifest-path P]  Check dependency edges between workspace members against the
                              layer table and the external deny-list (xtask/src/layers.rs)
  bench [AREA]                Build `mac-tests` in release and run `mac-bench AREA`
                              (default `all`); `bench --list` builds and lists the areas
  clients                     Install Claude Code, Codex CLI and OpenCode at the versions
                              pinned in xtask/clients into <target dir>/clients (npm; skipped
                              when already installed), for the real-client tests
  help                        Print this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the subcommand named by `args` (the arguments after `cargo xtask`).
fn dispatch(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        print_usage();
        return Ok(());
    };
    match command.as_str() {
        "ci" => {
            no_more_args("ci", rest)?;
            ci::run()
        }
        "layers" => {
            let manifest_path = parse_manifest_path(rest)?;
            layers::run(&manifest_path.unwrap_or_else(|| project_root().join("Cargo.toml")))
        }
        "bench" => bench::run(rest),
        "clients" => {
            no_more_args("clients", rest)?;
            clients::run()
        }
        "help" | "-h" | "--help" => {
            no_more_args("help", rest)?;
            print_usage();
            Ok(())
        }
        other => Err(format!("unknown command `{other}`; run `cargo xtask help` for the list")),
    }
}

/// Prints the usage text, followed by the bench areas if a built `mac-bench` can list them.
fn print_usage() {
    println!("{USAGE}");
    println!();
    match bench::list_areas_without_building() {
        Ok(areas) => {
            println!("Bench areas (from `mac-bench --list`):");
            for area in areas {
                println!("  {area}");
            }
        }
        Err(why) => println!(
            "Bench areas: not available ({why}); `cargo xtask bench --list` builds and lists them"
        ),
    }
}

/// Fails if a subcommand that takes no arguments was given some.
fn no_more_args(command: &str, rest: &[String]) -> Result<(), String> {
    match rest.first() {
        None => Ok(()),
        Some(extra) => Err(format!("`cargo xtask {command}` takes no arguments, got `{extra}`")),
    }
}

/// Parses `[--manifest-path PATH]` (or `--manifest-path=PATH`), the only options of `layers`.
fn parse_manifest_path(args: &[String]) -> Result<Option<PathBuf>, String> {
    let mut manifest_path = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = if arg == "--manifest-path" {
            args.next().ok_or("`--manifest-path` needs a value: the path of a Cargo.toml")?.clone()
        } else if let Some(value) = arg.strip_prefix("--manifest-path=") {
            value.to_owned()
        } else {
            return Err(format!(
                "`cargo xtask layers` accepts only `--manifest-path PATH`, got `{arg}`"
            ));
        };
        if manifest_path.replace(PathBuf::from(value)).is_some() {
            return Err("`--manifest-path` given twice".to_owned());
        }
    }
    Ok(manifest_path)
}

/// The root of the `mac` workspace: the parent of this crate's directory.
pub(crate) fn project_root() -> &'static Path {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|arg| (*arg).to_owned()).collect()
    }

    #[test]
    fn manifest_path_forms() {
        assert_eq!(parse_manifest_path(&[]), Ok(None));
        assert_eq!(
            parse_manifest_path(&strings(&["--manifest-path", "a/Cargo.toml"])),
            Ok(Some(PathBuf::from("a/Cargo.toml")))
        );
        assert_eq!(
            parse_manifest_path(&strings(&["--manifest-path=b/Cargo.toml"])),
            Ok(Some(PathBuf::from("b/Cargo.toml")))
        );
        assert!(parse_manifest_path(&strings(&["--manifest-path"])).is_err());
        assert!(parse_manifest_path(&strings(&["--verbose"])).is_err());
        assert!(
            parse_manifest_path(&strings(&["--manifest-path=a", "--manifest-path=b"])).is_err()
        );
    }

    #[test]
    fn unknown_command_is_an_error() {
        let error = dispatch(&strings(&["frobnicate"])).unwrap_err();
        assert_eq!(error, "unknown command `frobnicate`; run `cargo xtask help` for the list");
        assert!(dispatch(&strings(&["ci", "--fast"])).is_err());
    }

    #[test]
    fn project_root_is_the_workspace() {
        let manifest = std::fs::read_to_string(project_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}
