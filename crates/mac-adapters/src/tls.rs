//! One TLS client configuration for every HTTP client of a process ([`TlsConfig`]).
//!
//! Why: reqwest builds a certificate verifier per client, and the platform verifier loads and
//! decodes the whole system CA bundle each time. A gateway has three clients (its upstream and
//! one adapter client per provider pool): loading the roots three times was two thirds of its
//! start-up CPU. A caller builds one [`TlsConfig`] and hands clones to every client it builds;
//! a client built without one builds its own (as reqwest would). Not a process-global: two
//! gateways (two tests) in one process each hold their own.

use std::sync::Arc;

use snafu::{ResultExt as _, Snafu};

/// The TLS configuration could not be built (no crypto provider, no system roots).
#[derive(Debug, Snafu)]
#[snafu(display("cannot set up TLS: {source}"))]
pub struct TlsError {
    /// The cause.
    source: rustls::Error,
}

/// The TLS settings reqwest itself would use (its crypto provider, the platform verifier with
/// the system roots, HTTP/1.1 by ALPN), built once. Cheap to clone: the verifier is shared.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    config: Arc<rustls::ClientConfig>,
}

impl TlsConfig {
    /// Builds the configuration; this loads the system roots.
    pub fn new() -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier =
            rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).context(TlsSnafu)?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context(TlsSnafu)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // What reqwest offers without its `http2` feature.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self { config: Arc::new(config) })
    }

    /// `builder` using this configuration (the verifier and its roots shared, not rebuilt).
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        builder.tls_backend_preconfigured(rustls::ClientConfig::clone(&self.config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqwest_accepts_the_shared_configuration() {
        // A rustls version other than reqwest's would be an "unknown TLS backend" here.
        let tls = TlsConfig::new().unwrap();
        let built = tls.apply(reqwest::Client::builder()).build();
        assert!(built.is_ok(), "{built:?}");
    }
}
