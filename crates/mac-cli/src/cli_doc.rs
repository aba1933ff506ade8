//! `docs/CLI.md`, rendered from the clap definitions in [`crate::args`]: every command with its
//! description, usage line, arguments and options. A test keeps the file equal to this
//! rendering (`MAC_UPDATE_DOCS=1` rewrites it).

use std::fmt::Write as _;

use clap::{Arg, Command, CommandFactory};

use crate::args::Cli;

/// The whole of `docs/CLI.md`.
pub fn render() -> String {
    let mut root = Cli::command();
    root.build();
    let mut out = String::from(
        "# The `mac` command\n\n\
         <!-- Generated from crates/mac-cli/src/args.rs by `cli_doc::render`; a test keeps this \
         file equal to it. Regenerate with `MAC_UPDATE_DOCS=1 cargo test -p mac-cli cli_doc`. -->\n\n",
    );
    if let Some(about) = root.get_about() {
        let _ = writeln!(out, "{about}\n");
    }
    if let Some(after) = root.get_after_help() {
        let _ = writeln!(out, "{after}\n");
    }
    out.push_str("Global options (before or after the command):\n\n");
    for arg in root.get_arguments().filter(|a| a.is_global_set()) {
        let _ = writeln!(out, "- {}", describe(arg));
    }
    out.push('\n');
    for command in root.get_subcommands() {
        command_section(&mut out, command, "mac");
    }
    out
}

fn command_section(out: &mut String, command: &Command, parent: &str) {
    if command.is_hide_set() || command.get_name() == "help" {
        return;
    }
    let path = format!("{parent} {}", command.get_name());
    let _ = writeln!(out, "## `{path}`\n");
    if let Some(about) = command.get_long_about().or_else(|| command.get_about()) {
        let _ = writeln!(out, "{about}.\n");
    }
    if command.has_subcommands() {
        for sub in command.get_subcommands() {
            command_section(out, sub, &path);
        }
        return;
    }
    let mut usage = command.clone().bin_name(path.clone());
    let usage = usage.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ");
    let _ = writeln!(out, "```text\n{usage}\n```\n");
    let own: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| !a.is_global_set() && !a.is_hide_set() && a.get_id() != "help")
        .collect();
    if !own.is_empty() {
        for arg in own {
            let _ = writeln!(out, "- {}", describe(arg));
        }
        out.push('\n');
    }
}

fn describe(arg: &Arg) -> String {
    let name = if arg.is_positional() {
        format!(
            "`<{}>`",
            arg.get_value_names()
                .and_then(|v| v.first())
                .map_or_else(|| arg.get_id().to_string().to_uppercase(), ToString::to_string)
        )
    } else {
        let mut names = Vec::new();
        if let Some(short) = arg.get_short() {
            names.push(format!("`-{short}`"));
        }
        if let Some(long) = arg.get_long() {
            let value = if arg.get_action().takes_values() {
                let v = arg
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map_or_else(|| arg.get_id().to_string().to_uppercase(), ToString::to_string);
                format!(" <{v}>")
            } else {
                String::new()
            };
            names.push(format!("`--{long}{value}`"));
        }
        names.join(", ")
    };
    let mut help = arg.get_help().map(ToString::to_string).unwrap_or_default();
    if !help.is_empty() && !help.ends_with('.') {
        help.push('.');
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    let mut text = format!("{name}: {help}");
    if !values.is_empty()
        && arg.get_value_parser().possible_values().is_some()
        && arg.get_action().takes_values()
    {
        let _ = write!(text, " One of {}.", values.join(", "));
    }
    let defaults: Vec<String> =
        arg.get_default_values().iter().map(|d| d.to_string_lossy().into_owned()).collect();
    if !defaults.is_empty() && arg.get_action().takes_values() {
        let _ = write!(text, " Default: `{}`.", defaults.join(","));
    }
    text
}
