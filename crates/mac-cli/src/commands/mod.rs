//! One module per command; each returns `Ok(())` or the error that decides the exit status.

mod accounts;
mod completions;
mod config;
mod demo;
mod doctor;
mod import;
pub(crate) mod login;
mod menu;
mod serve;
mod status;
mod storage;

use crate::args::Command;
use crate::context::Context;
use crate::error::CliError;

/// Runs `command`.
pub(crate) fn run(ctx: &Context, command: Command) -> Result<(), CliError> {
    let span = tracing::info_span!("mac", data_dir = %ctx.data_dir.path().display());
    let _entered = span.enter();
    match command {
        Command::Login(args) => login::run(ctx, &args),
        Command::Accounts(command) => accounts::run(ctx, command),
        Command::Status(args) => status::run(ctx, &args),
        Command::Import(args) => import::run(ctx, &args),
        Command::Config(command) => config::run(ctx, &command),
        Command::Doctor(args) => doctor::run(ctx, &args),
        Command::Storage(command) => storage::run(ctx, &command),
        Command::Menu(args) => menu::run(ctx, &args),
        Command::Serve(args) => serve::run(ctx, &args),
        Command::Demo(args) => demo::run(ctx, &args),
        Command::Completions(args) => {
            completions::run(args.shell);
            Ok(())
        }
    }
}
