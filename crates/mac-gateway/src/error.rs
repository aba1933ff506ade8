//! The error type of `mac-gateway` (D19): why a gateway could not start. Per-request
//! failures are HTTP answers in the provider's error shape, never this type.

use std::net::SocketAddr;

use snafu::Snafu;

/// Why the gateway could not start (once serving, it stops only when asked).
#[derive(Debug, Snafu)]
#[snafu(visibility(pub(crate)))]
pub enum GatewayError {
    /// The accounts storage both pools share could not be opened (the data directory, or the
    /// database of `[storage] url`).
    #[snafu(display("cannot open the accounts storage: {source}"))]
    Storage {
        /// The cause.
        source: mac_core::SetupError,
    },
    /// A provider pool could not be set up (config, accounts file, claims).
    #[snafu(display("cannot open the {provider} pool: {source}"))]
    Pool {
        /// The provider.
        provider: mac_storage::Provider,
        /// The cause.
        source: mac_core::SetupError,
    },
    /// A provider's endpoint configuration is not usable.
    #[snafu(display("the {provider} endpoints are not usable: {message}"))]
    Endpoints {
        /// The provider.
        provider: mac_storage::Provider,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The address could not be bound.
    #[snafu(display("cannot listen on {addr}: {source}"))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A non-loopback address without an inbound key: anyone on the network could spend the
    /// pool.
    #[snafu(display(
        "refusing to listen on {addr} without an inbound key: a non-loopback address lets other \
         machines use your accounts; set `[gateway] inbound_key` in config.toml (or \
         MAC_GATEWAY_INBOUND_KEY), or listen on 127.0.0.1"
    ))]
    NoInboundKey {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The HTTP client to the providers could not be built.
    #[snafu(display("cannot build the upstream HTTP client: {message}"))]
    Client {
        /// The cause.
        message: String,
    },
}
