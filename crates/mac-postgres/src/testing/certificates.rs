//! [`TestCertificates`]: a certificate authority of one test's own and a server certificate it
//! signed for `localhost` and `127.0.0.1`, made with the `openssl` command — plus a second,
//! unrelated CA, whose certificate a client must refuse the server with.
//!
//! Why the `openssl` command rather than a certificate crate: the machines that run the
//! server binaries have it, and it keeps certificate generation out of the build. The keys
//! stay in the test's temporary directory, mode 0600.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::cluster::checked;

/// The files made by [`TestCertificates::make`].
#[derive(Clone, Debug)]
pub struct TestCertificates {
    /// The CA that signed the server's certificate (PEM).
    pub ca: PathBuf,
    /// A CA that signed nothing the server holds (PEM).
    pub other_ca: PathBuf,
    /// The server's certificate (PEM), for `localhost` and `127.0.0.1`.
    pub server_cert: PathBuf,
    /// The server certificate's private key (PEM, mode 0600).
    pub server_key: PathBuf,
}

impl TestCertificates {
    /// Makes the CAs and the server certificate in `dir` (which must exist).
    #[allow(clippy::disallowed_methods, reason = "test fixtures in a temporary directory")]
    pub fn make(dir: &Path) -> Result<Self, String> {
        let files = Self {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        let other_key = dir.join("other-ca.key");
        let request = dir.join("server.csr");
        let extensions = dir.join("server.ext");
        for (key, cert, name) in
            [(&ca_key, &files.ca, "mac-test-ca"), (&other_key, &files.other_ca, "mac-other-ca")]
        {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &s(key),
                "-out",
                &s(cert),
            ])?;
        }
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &s(&files.server_key),
            "-out",
            &s(&request),
        ])?;
        std::fs::write(
            &extensions,
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| format!("writing {}: {e}", extensions.display()))?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &s(&request),
            "-CA",
            &s(&files.ca),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &s(&extensions),
            "-out",
            &s(&files.server_cert),
        ])?;
        for key in [&ca_key, &other_key, &files.server_key] {
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("chmod 600 {}: {e}", key.display()))?;
        }
        Ok(files)
    }
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn openssl(args: &[&str]) -> Result<(), String> {
    checked(Command::new("openssl").args(args).output(), "openssl")
}
