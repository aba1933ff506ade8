//! `mac completions <shell>`: the completion script clap derives from the arguments.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;

/// Prints the script for `shell` on standard output.
pub(crate) fn run(shell: Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "mac", &mut std::io::stdout());
}
