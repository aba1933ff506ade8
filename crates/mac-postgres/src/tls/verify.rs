//! The certificate verifiers of the modes rustls has none for: [`ChainOnly`] (`verify-ca`:
//! the chain to a trusted CA, any host name) and [`Unverified`] (`prefer` and `require`
//! without `sslrootcert`: encryption only, as libpq does). Both still check the handshake's
//! signatures, so the peer holds the key of the certificate it showed.
//!
//! Why `verify-ca` needs its own verifier: rustls' `WebPkiServerVerifier` always checks the
//! name. Skipping it is what `verify-ca` means — useful when clients reach the server by a
//! name or address its certificate does not hold (a load balancer, a tunnel) — and safe only
//! because the CA is the deployment's own (`sslrootcert=FILE`, required for this mode).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The handshake-signature checks both verifiers make, with their `provider`'s algorithms (one
/// definition for the two `ServerCertVerifier` impls).
macro_rules! handshake_signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    };
}

/// `verify-ca`: the certificate chains to one of `roots`; the host name is not checked.
#[derive(Debug)]
pub(crate) struct ChainOnly {
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signature_checks!();
}

/// `prefer` and `require` without `sslrootcert`: any certificate (libpq's behaviour — these
/// modes protect against eavesdropping, not against an active attacker).
#[derive(Debug)]
pub(crate) struct Unverified {
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signature_checks!();
}
