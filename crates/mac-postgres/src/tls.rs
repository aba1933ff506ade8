//! [`Tls`]: how every connection of this crate speaks TLS — rustls over the client's socket,
//! verifying the server's certificate as the URL's `sslmode` and `sslrootcert` ask
//! ([`SslParams`]) — and [`Tls::failure`], which turns a failed connection into an error
//! saying what to change.
//!
//! Why a connector of our own (about a hundred lines) rather than a crate such as
//! `tokio-postgres-rustls`: the client leaves verification wholly to the connector, and the
//! libpq modes need three verifiers (`verify.rs`) that such a crate does not offer; rustls and
//! tokio-rustls are already in the build. One [`Tls`] is built per storage, so the CA file is
//! read and the system's CAs are loaded once per storage (not per connection); a changed CA
//! file is read by the next start.
//!
//! Channel binding (`SCRAM-SHA-256-PLUS`) is not offered: its `tls-server-end-point` hash
//! depends on the certificate's signature algorithm, and a wrong one fails the login. SCRAM
//! without binding still never sends the password.

mod verify;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::error::{ClientFailure, PostgresError};
use crate::ssl_params::{RootCert, SslMode, SslParams};

/// The ALPN protocol PostgreSQL 17 asks for (older servers ignore it).
const ALPN: &[u8] = b"postgresql";

/// The TLS side of a storage's connections: cheap to clone (the configuration is shared).
#[derive(Clone)]
pub(crate) struct Tls {
    mode: SslMode,
    /// `None` for `sslmode=disable`.
    config: Option<Arc<ClientConfig>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("mode", &self.mode.as_str()).finish_non_exhaustive()
    }
}

impl Tls {
    /// The connector for `params`: reads the `sslrootcert` file or loads the system's CAs.
    pub(crate) fn new(params: &SslParams) -> Result<Self, PostgresError> {
        if params.mode == SslMode::Disable {
            return Ok(Self { mode: params.mode, config: None });
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| PostgresError::TlsSetup { reason: err.to_string() })?
            .dangerous();
        let builder = match &params.root_cert {
            None => builder.with_custom_certificate_verifier(Arc::new(verify::Unverified {
                provider: Arc::clone(&provider),
            })),
            Some(RootCert::System) => {
                let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
                    .map_err(|err| PostgresError::TlsSetup { reason: err.to_string() })?;
                builder.with_custom_certificate_verifier(Arc::new(verifier))
            }
            Some(RootCert::File(path)) => {
                let roots = Arc::new(read_roots(path)?);
                if params.mode == SslMode::VerifyFull {
                    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                        roots,
                        Arc::clone(&provider),
                    )
                    .build()
                    .map_err(|err| PostgresError::TlsSetup { reason: err.to_string() })?;
                    builder.with_custom_certificate_verifier(verifier)
                } else {
                    // `verify-ca`, and `prefer`/`require` given a CA (libpq verifies the chain
                    // then too).
                    builder.with_custom_certificate_verifier(Arc::new(verify::ChainOnly {
                        roots,
                        provider: Arc::clone(&provider),
                    }))
                }
            }
        };
        let mut config = builder.with_no_client_auth();
        config.alpn_protocols = vec![ALPN.to_vec()];
        Ok(Self { mode: params.mode, config: Some(Arc::new(config)) })
    }

    /// The error for a connection to `target` that failed with `err`: [`PostgresError::Tls`]
    /// with a hint when TLS was the cause, [`PostgresError::Connect`] otherwise.
    pub(crate) fn failure(&self, target: &str, err: &tokio_postgres::Error) -> PostgresError {
        let failure = ClientFailure::from_client(err);
        // The client's own words (the cause of its `Tls` error) for a server answering `N` to
        // the TLS request.
        let hint = if failure.to_string().contains("server does not support TLS") {
            Some(
                "the server does not accept TLS connections: turn `ssl` on in its \
                 postgresql.conf, or — only on a private network — lower `sslmode` in the URL \
                 to `prefer` or `disable`",
            )
        } else {
            match rustls_cause(err) {
                Some(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. },
                )) => Some(
                    "the server's certificate does not name the URL's host: connect by a name \
                     the certificate holds, or use `sslmode=verify-ca` to check only its CA",
                ),
                Some(rustls::Error::InvalidCertificate(_)) => Some(
                    "the server's certificate did not verify: name the CA that signed it with \
                     `sslrootcert=/path/to/ca.pem` in the URL",
                ),
                Some(_) => Some("the TLS handshake with the server failed"),
                None => None,
            }
        };
        match hint {
            Some(hint) => PostgresError::Tls {
                target: target.to_owned(),
                sslmode: self.mode.as_str(),
                failure,
                hint,
            },
            None => PostgresError::Connect { target: target.to_owned(), failure },
        }
    }
}

/// The rustls error among `err`'s causes, if any.
fn rustls_cause(err: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(found) = cause.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        source = cause.source();
    }
    None
}

/// The CA certificates of the PEM file at `path`.
fn read_roots(path: &std::path::Path) -> Result<RootCertStore, PostgresError> {
    let unusable = |reason: String| PostgresError::RootCert { path: path.to_owned(), reason };
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|err| unusable(err.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|err| unusable(err.to_string()))?;
        roots.add(cert).map_err(|err| unusable(err.to_string()))?;
    }
    if roots.is_empty() {
        return Err(unusable("it holds no PEM certificate".to_owned()));
    }
    Ok(roots)
}

impl MakeTlsConnect<Socket> for Tls {
    type Stream = TlsStream;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Connect, io::Error> {
        // A Unix socket's host has no usable name; TLS is never tried there, so a name that
        // does not parse fails only when used.
        let name = ServerName::try_from(domain.to_owned()).ok();
        Ok(Connect { config: self.config.clone(), name })
    }
}

/// One connection's handshake.
pub(crate) struct Connect {
    config: Option<Arc<ClientConfig>>,
    name: Option<ServerName<'static>>,
}

impl TlsConnect<Socket> for Connect {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(|| io::Error::other("TLS is disabled"))?;
            let name = self.name.ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "the host is not a valid TLS name")
            })?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(name, socket).await?;
            tracing::trace!(version = ?stream.get_ref().1.protocol_version(), "TLS established");
            Ok(TlsStream(stream))
        })
    }
}

/// A connection's TLS stream.
pub(crate) struct TlsStream(tokio_rustls::client::TlsStream<Socket>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // See the module docs.
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
