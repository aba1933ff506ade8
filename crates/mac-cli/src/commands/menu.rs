//! `mac menu`: the interactive manager in a terminal (`inquire` prompts). Without a terminal it
//! fails at once, pointing to the commands that do the same from scripts.

use mac_adapters::LoginOutcome;
use mac_claims::ClaimsSnapshot;
use mac_storage::Provider;
use mac_ui::InquirePrompter;

use crate::args::{LoginFlowArgs, MenuArgs};
use crate::commands::login::log_in;
use crate::commands::status::claims_of;
use crate::context::Context;
use crate::error::CliError;
use crate::menu_flow::{self, MenuHost};

/// Runs `mac menu`.
pub(crate) fn run(ctx: &Context, args: &MenuArgs) -> Result<(), CliError> {
    let mut prompter = InquirePrompter::new().map_err(|source| CliError::NoTerminal { source })?;
    let config = ctx.config()?;
    let mut host = TerminalHost { ctx, config: config.clone() };
    menu_flow::run(&ctx.data_dir, &config, args.provider.map(Into::into), &mut prompter, &mut host)
}

struct TerminalHost<'a> {
    ctx: &'a Context,
    config: mac_core::MacConfig,
}

impl MenuHost for TerminalHost<'_> {
    fn say(&mut self, line: &str) {
        self.ctx.printer.out(line);
    }

    fn login(&mut self, provider: Provider) -> Result<LoginOutcome, CliError> {
        log_in(self.ctx, &self.config, provider, LoginFlowArgs { manual: false, device: false })
    }

    fn refresh_usage(&mut self, provider: Provider) -> Result<(), CliError> {
        crate::commands::status::refresh_only(self.ctx, &self.config, provider)
    }

    fn claims(&mut self, provider: Provider) -> ClaimsSnapshot {
        claims_of(self.ctx, &self.config, provider)
    }
}
