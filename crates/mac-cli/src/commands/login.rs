//! `mac login`: the adapters' login flows with a browser (or a printed URL), a spinner while
//! waiting, and the account added (or updated, when it is one the pool has) at the end. Also
//! the re-login of `mac accounts relogin` and the menu, which gives an account new tokens.

use std::io::BufRead;

use mac_adapters::{
    AnthropicLogin, CALLBACK_TIMEOUT, CodexBrowserLogin, CodexManualLogin, DeviceAuthorization,
    DevicePolling, LoginError, LoginOutcome,
};
use mac_core::MacConfig;
use mac_storage::{AddOutcome, EpochMs, Provider, StoredAccount};
use snafu::ResultExt;

use crate::args::{LoginArgs, LoginFlowArgs};
use crate::context::{Context, runtime};
use crate::error::{CliError, LoginSnafu, StdinSnafu};
use crate::target::Entry;

/// Runs `mac login`.
pub(crate) fn run(ctx: &Context, args: &LoginArgs) -> Result<(), CliError> {
    let provider = Provider::from(args.provider);
    let config = ctx.config()?;
    let label = args.label.as_deref().map(checked_label).transpose()?;
    let outcome = log_in(ctx, &config, provider, args.flow)?;
    let mut new = outcome.into_new_account();
    new.label = label;
    let store = ctx.writer(provider, &config)?;
    let added = store.add_account(&new, EpochMs::now())?;
    let (verb, uuid) = match &added {
        AddOutcome::Added { uuid } => ("added", uuid),
        AddOutcome::Updated { uuid, .. } => ("updated", uuid),
    };
    let document = store.load()?;
    let name = document.account(uuid).map_or_else(|| uuid.clone(), StoredAccount::display_name);
    let plan = new.plan_tier.as_deref().filter(|p| !p.is_empty()).unwrap_or("unknown plan");
    ctx.printer.out(&format!("{verb} {provider} account {name} ({plan}), id {uuid}"));
    Ok(())
}

/// A label as given, or the usage error for an empty or multi-line one.
pub(crate) fn checked_label(label: &str) -> Result<String, CliError> {
    let label = label.trim();
    if label.is_empty() || label.chars().any(char::is_control) {
        return Err(CliError::Usage {
            message: "a label must be non-empty text on one line".into(),
            flag: "--label",
        });
    }
    Ok(label.to_owned())
}

/// Runs the login flow `flow` asks for and returns its outcome.
pub(crate) fn log_in(
    ctx: &Context,
    config: &MacConfig,
    provider: Provider,
    flow: LoginFlowArgs,
) -> Result<LoginOutcome, CliError> {
    let descriptor = crate::context::descriptor(provider, config)?;
    let client = crate::context::client(provider, config)?;
    let rt = runtime()?;
    let fail = |source: LoginError| CliError::Login { provider, source };
    match provider {
        Provider::Anthropic => {
            if flow.device {
                return Err(CliError::Usage {
                    message:
                        "the device login is a codex login; anthropic logs in with a pasted code"
                            .into(),
                    flag: "--device",
                });
            }
            let (login, url) = AnthropicLogin::start(&descriptor).map_err(fail)?;
            show_url(ctx, url.as_str(), !flow.manual);
            let pasted = read_line(ctx, "Paste the code shown after you approve (code#state):")?;
            let spinner = ctx.printer.spinner("exchanging the code…");
            let outcome = rt.block_on(login.finish(&client, &pasted));
            spinner.stop();
            outcome.context(LoginSnafu { provider })
        }
        Provider::Codex if flow.device => {
            let device = rt.block_on(DeviceAuthorization::start(&client)).map_err(fail)?;
            ctx.printer.error_line(&format!(
                "Open {} and enter the code {}",
                device.verification_url, device.user_code
            ));
            let spinner = ctx.printer.spinner("waiting for the device login to be approved…");
            let outcome = rt.block_on(device.poll(&client, DevicePolling::default()));
            spinner.stop();
            outcome.context(LoginSnafu { provider })
        }
        Provider::Codex if flow.manual => {
            let (login, url) = CodexManualLogin::start(&descriptor).map_err(fail)?;
            show_url(ctx, url.as_str(), false);
            let pasted = read_line(
                ctx,
                "After approving, the browser shows a page that fails to load; paste its address:",
            )?;
            let spinner = ctx.printer.spinner("exchanging the code…");
            let outcome = rt.block_on(login.finish(&client, &pasted));
            spinner.stop();
            outcome.context(LoginSnafu { provider })
        }
        Provider::Codex => {
            let (login, url) = rt
                .block_on(CodexBrowserLogin::start(&descriptor, descriptor.callback_port))
                .map_err(fail)?;
            show_url(ctx, url.as_str(), true);
            let spinner = ctx.printer.spinner("waiting for the browser login…");
            let outcome = rt.block_on(login.wait(&client, CALLBACK_TIMEOUT));
            spinner.stop();
            outcome.context(LoginSnafu { provider })
        }
    }
}

/// Opens `url` in a browser when `open` and one is available; prints it either way (even with
/// `-q`: the login cannot go on without it).
fn show_url(ctx: &Context, url: &str, open: bool) {
    if open && crate::browser::open(url) {
        ctx.printer.error_line("Opened your browser; if it did not open, visit:");
    } else {
        ctx.printer.error_line("Open this URL in a browser to log in:");
    }
    ctx.printer.error_line(&format!("  {url}"));
}

/// Asks on standard error and reads one line from standard input.
fn read_line(ctx: &Context, question: &str) -> Result<String, CliError> {
    ctx.printer.error_line(question);
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context(StdinSnafu)?;
    Ok(line.trim().to_owned())
}

/// Logs `entry` in again and gives it the new tokens (see [`crate::relogin`]).
pub(crate) fn relogin(
    ctx: &Context,
    config: &MacConfig,
    entry: &Entry,
    flow: LoginFlowArgs,
) -> Result<(), CliError> {
    let outcome = log_in(ctx, config, entry.provider, flow)?;
    let store = ctx.writer(entry.provider, config)?;
    let uuid = entry.uuid();
    let name = crate::relogin::apply(&store, entry.provider, uuid, outcome)?;
    ctx.printer.out(&format!("re-logged in {} account {name}, id {uuid}", entry.provider));
    Ok(())
}
