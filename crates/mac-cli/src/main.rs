//! The `mac` command: one pool of Claude and ChatGPT subscription accounts for coding agents.
//! This first cut has `mac status`; login, menus, import and the gateway arrive with their
//! issues.
//!
//! Must not depend on: nothing above it (it is the top layer); it holds no logic a library user
//! would need — that lives in the crates below.

// The command's job is to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use mac_storage::DataDir;

const USAGE: &str = "\
mac — one pool of Claude Pro/Max and ChatGPT Plus/Pro accounts for your coding agents

Usage: mac [--data-dir DIR] <command>

Commands:
  status [--json]   the accounts of every provider pool and their state

Options:
  --data-dir DIR    use DIR instead of $MAC_HOME or ~/.config/mac
  -h, --help        this text
  -V, --version     the version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mac: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode, String> {
    let mut data_dir: Option<PathBuf> = None;
    let mut rest = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "-V" | "--version" => {
                println!("mac {}", env!("CARGO_PKG_VERSION"));
                return Ok(ExitCode::SUCCESS);
            }
            "--data-dir" => {
                let value = iter.next().ok_or("--data-dir needs a directory")?;
                data_dir = Some(PathBuf::from(value));
            }
            other => rest.push(other),
        }
    }
    let data_dir = match data_dir {
        Some(path) => DataDir::at(path),
        None => DataDir::from_process_env().map_err(|e| e.to_string())?,
    };
    match rest.as_slice() {
        ["status"] => Ok(status::run(&data_dir, status::Format::Table)),
        ["status", "--json"] => Ok(status::run(&data_dir, status::Format::Json)),
        [] => Err(format!("no command given\n\n{USAGE}")),
        [command, ..] => Err(format!("unknown command or flag {command:?}; run `mac --help`")),
    }
}
