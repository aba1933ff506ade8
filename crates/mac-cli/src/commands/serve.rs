//! `mac serve`: runs the gateway (`mac_gateway`) on a multi-thread runtime until SIGINT or
//! SIGTERM. Once it accepts connections it prints exactly one line on standard output,
//! `listening on http://ADDR` (tools starting it read the port from there); each request is
//! one log line on standard error. On a signal it stops accepting, lets answers in flight
//! finish for `[gateway] shutdown_grace`, releases its claims and exits 0.

use mac_gateway::Gateway;
use snafu::IntoError;
use tokio::signal::unix::{SignalKind, signal};

use crate::args::ServeArgs;
use crate::context::Context;
use crate::error::{CliError, RuntimeSnafu};

/// Runs `mac serve`.
pub(crate) fn run(ctx: &Context, args: &ServeArgs) -> Result<(), CliError> {
    let config = ctx.config()?;
    let listen = args.listen.unwrap_or(config.gateway.listen);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("mac-serve")
        .build()
        .map_err(|source| RuntimeSnafu.into_error(source))?;
    runtime.block_on(async {
        // Signals are caught before the address is announced: a client that starts the
        // gateway and stops it at once still gets a clean exit.
        let mut terminate =
            signal(SignalKind::terminate()).map_err(|source| RuntimeSnafu.into_error(source))?;
        let mut interrupt =
            signal(SignalKind::interrupt()).map_err(|source| RuntimeSnafu.into_error(source))?;
        let gateway = Gateway::new(ctx.data_dir.clone(), config).start(listen).await?;
        ctx.printer.out(&format!("listening on http://{}", gateway.local_addr()));
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("stopping: no new connections; answers in flight may finish");
        gateway.shutdown().await?;
        Ok(())
    })
}
