//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure, with each
//! step's name and duration. The child cargo commands inherit the environment, so they share one
//! target directory (and the build xtask itself came from). The `clients` step installs the
//! pinned real clients before the tests, so the real-client tests run in CI and never skip.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::cargo::{cargo, display, has_nextest, run as run_command};
use crate::{clients, layers, project_root};

/// One step of CI.
enum Step {
    /// A child command.
    Command(Command),
    /// The layering check, in process.
    Layers,
    /// `cargo xtask clients`, in process: the real clients the tests drive through `mac serve`.
    Clients,
    /// Each crate of layers 1 and 2 checked on its own, so that its own dependency features
    /// suffice: a plugin can depend on that one crate alone.
    Standalone,
}

/// The steps, in order, each with its name.
fn steps() -> Vec<(&'static str, Step)> {
    let root = project_root();
    let command = |args: &[&str]| {
        let mut command = cargo();
        command.current_dir(root).args(args);
        command
    };
    let tests = if has_nextest() {
        command(&["nextest", "run", "--workspace", "--profile", "ci"])
    } else {
        eprintln!("ci: `cargo nextest` is not installed; running the tests with `cargo test`");
        command(&["test", "--workspace"])
    };
    let mut rustdoc = command(&["doc", "--workspace", "--no-deps"]);
    rustdoc.env("RUSTDOCFLAGS", "-D warnings");
    vec![
        ("fmt", Step::Command(command(&["fmt", "--all", "--", "--check"]))),
        (
            "clippy",
            Step::Command(command(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])),
        ),
        ("clients", Step::Clients),
        ("test", Step::Command(tests)),
        // nextest does not run doctests.
        ("doctest", Step::Command(command(&["test", "--workspace", "--doc"]))),
        ("rustdoc", Step::Command(rustdoc)),
        ("layers", Step::Layers),
        ("standalone", Step::Standalone),
    ]
}

/// The crates a plugin may take alone: layers 1 and 2.
fn standalone_crates() -> Vec<&'static str> {
    layers::LAYERS
        .iter()
        .filter(|(_, rank)| matches!(rank, layers::Rank::Layer(1 | 2)))
        .map(|(name, _)| *name)
        .collect()
}

/// Runs every step; fails with the first failing step.
pub(crate) fn run() -> Result<(), String> {
    let steps = steps();
    let count = steps.len();
    let started = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    for (index, (name, step)) in steps.into_iter().enumerate() {
        let step_started = Instant::now();
        let result = match step {
            Step::Command(mut command) => {
                eprintln!("\n==> [{}/{count}] {name}: {}", index + 1, display(&command));
                run_command(&mut command)
            }
            Step::Layers => {
                eprintln!("\n==> [{}/{count}] {name}: cargo xtask layers", index + 1);
                layers::run(&project_root().join("Cargo.toml"))
            }
            Step::Clients => {
                eprintln!("\n==> [{}/{count}] {name}: cargo xtask clients", index + 1);
                clients::run()
            }
            Step::Standalone => {
                eprintln!(
                    "\n==> [{}/{count}] {name}: cargo check --lib -p <crate>, one crate at a time",
                    index + 1
                );
                standalone_crates().iter().try_for_each(|krate| {
                    let mut command = cargo();
                    command
                        .current_dir(project_root())
                        .args(["check", "--quiet", "--lib", "-p", krate]);
                    run_command(&mut command)
                })
            }
        };
        let elapsed = step_started.elapsed();
        if let Err(error) = result {
            eprintln!("<== {name} FAILED after {}", seconds(elapsed));
            return Err(format!("ci step `{name}` failed: {error}"));
        }
        eprintln!("<== {name} ok ({})", seconds(elapsed));
        timings.push((name, elapsed));
    }
    eprintln!("\nci: all {count} steps passed in {}", seconds(started.elapsed()));
    for (name, elapsed) in timings {
        eprintln!("  {name:<8} {:>8}", seconds(elapsed));
    }
    Ok(())
}

/// `elapsed` as seconds with one decimal, e.g. `12.3s`.
fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_run_in_the_documented_order() {
        let names: Vec<&str> = steps().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["fmt", "clippy", "clients", "test", "doctest", "rustdoc", "layers", "standalone"]
        );
        assert_eq!(
            standalone_crates(),
            ["mac-storage", "mac-claims", "mac-ratelimit", "mac-adapters", "mac-ui", "mac-fake"]
        );
    }

    #[test]
    fn rustdoc_denies_warnings() {
        let steps = steps();
        let Some((_, Step::Command(rustdoc))) = steps.iter().find(|(name, _)| *name == "rustdoc")
        else {
            panic!("no rustdoc step");
        };
        assert!(display(rustdoc).starts_with("RUSTDOCFLAGS='-D warnings' "));
        assert!(display(rustdoc).ends_with(" doc --workspace --no-deps"));
    }

    #[test]
    fn durations_print_in_seconds() {
        assert_eq!(seconds(Duration::from_millis(12_345)), "12.3s");
    }
}
