//! `mac config check|show|path`: `config.toml` validated with every problem listed, the
//! effective settings with where each comes from, and where the file is.

use mac_core::MacConfig;
use mac_core::config::{Source, process_env};

use crate::args::ConfigCommand;
use crate::context::Context;
use crate::error::CliError;
use crate::hint::Hint;

/// Runs `mac config …`.
pub(crate) fn run(ctx: &Context, command: &ConfigCommand) -> Result<(), CliError> {
    let path = ctx.data_dir.config_file();
    match command {
        ConfigCommand::Path => {
            ctx.printer.out(&path.display().to_string());
            Ok(())
        }
        ConfigCommand::Check => match MacConfig::check(&path, process_env) {
            Ok(checked) => {
                let (mut file, mut env) = (0, 0);
                for (_, _, source) in checked.entries() {
                    match source {
                        Source::File { .. } => file += 1,
                        Source::Env { .. } => env += 1,
                        Source::Default => {}
                    }
                }
                let exists = if path.exists() { "" } else { " (no file: every default)" };
                ctx.printer.out(&format!(
                    "{}{exists}: valid; {file} key(s) set in the file, {env} by MAC_* variables",
                    path.display()
                ));
                Ok(())
            }
            Err(errors) => {
                for error in &errors {
                    ctx.printer.out(&error.to_string());
                }
                Err(CliError::Reported {
                    what: format!("{} problem(s) in the configuration", errors.len()),
                    hint: Some(Hint::File(path)),
                })
            }
        },
        ConfigCommand::Show => {
            let checked = MacConfig::check(&path, process_env)
                .map_err(|errors| CliError::Config { errors, path: path.clone() })?;
            ctx.printer.out_raw(&checked.to_toml());
            Ok(())
        }
    }
}
