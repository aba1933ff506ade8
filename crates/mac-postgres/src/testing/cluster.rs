//! [`PrivateCluster`]: a PostgreSQL server of one test's own, in a temporary directory on a
//! free loopback port, for tests that stop, restart or break the server — which they must
//! never do to the shared test server other tests use at the same time.
//!
//! It runs the installed server binaries (`initdb`, `pg_ctl`, `postgres`) from
//! `MAC_TEST_POSTGRES_BIN`, else the newest `/usr/lib/postgresql/<version>/bin`. PostgreSQL
//! refuses to run as root, so when the test runs as root the binaries run as the `postgres`
//! user (`runuser -u postgres --`) in a directory handed to that user. Authentication is
//! `trust` on 127.0.0.1 only. Dropping the value stops the server (`immediate`) and removes
//! the directory, also when the test panicked.
//!
//! [`PrivateCluster::start_with_tls`] starts it with `ssl = on`, a certificate signed by a CA
//! of the test's own ([`TestCertificates`]), and a `pg_hba.conf` admitting TCP connections over
//! TLS only (`hostssl`: `postgres` trusted, other roles by SCRAM password), so a connection
//! that succeeds proves TLS was used.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mac_storage::Secret;

use super::REQUIRE_ENV;
use super::certificates::TestCertificates;

/// The variable naming the directory of the server binaries.
pub const BIN_ENV: &str = "MAC_TEST_POSTGRES_BIN";

/// The user the server runs as when the test runs as root.
const SERVER_USER: &str = "postgres";

/// A running PostgreSQL server of one test's own (see the module docs).
#[derive(Debug)]
pub struct PrivateCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
    /// `Some` when started with TLS.
    certificates: Option<TestCertificates>,
}

impl PrivateCluster {
    /// Creates and starts a cluster for the test `test`; `None` (with a message) when the
    /// server binaries are missing or the cluster cannot be made, unless
    /// `MAC_REQUIRE_POSTGRES=1`.
    ///
    /// # Panics
    /// When it cannot be started and `MAC_REQUIRE_POSTGRES=1`.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_as(test, false)
    }

    /// Like [`PrivateCluster::start`], with TLS on and only TLS connections admitted over TCP
    /// (see the module docs); [`PrivateCluster::certificates`] names the CA to trust.
    ///
    /// # Panics
    /// When it cannot be started and `MAC_REQUIRE_POSTGRES=1`.
    pub fn start_with_tls(test: &str) -> Option<Self> {
        Self::start_as(test, true)
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the test run's own settings, read where they apply"
    )]
    fn start_as(test: &str, tls: bool) -> Option<Self> {
        let required = std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1");
        match Self::try_start(test, tls) {
            Ok(cluster) => Some(cluster),
            Err(reason) if required => {
                panic!(
                    "{test}: a private PostgreSQL cluster is required ({REQUIRE_ENV}=1) but {reason}"
                )
            }
            Err(reason) => {
                eprintln!(
                    "SKIPPED {test}: {reason}; install the PostgreSQL server or set {BIN_ENV} \
                     ({REQUIRE_ENV}=1 makes this a failure)"
                );
                None
            }
        }
    }

    #[allow(clippy::disallowed_methods, reason = "the test run's own settings")]
    fn try_start(test: &str, tls: bool) -> Result<Self, String> {
        let bin = match std::env::var(BIN_ENV) {
            Ok(dir) => PathBuf::from(dir),
            Err(_) => newest_installed().ok_or("no PostgreSQL server binaries were found")?,
        };
        if !bin.join("initdb").exists() || !bin.join("pg_ctl").exists() {
            return Err(format!("{} holds no initdb and pg_ctl", bin.display()));
        }
        let as_root = std::fs::metadata("/proc/self").map_err(|e| e.to_string())?.uid() == 0;
        let slug: String =
            test.chars().filter(char::is_ascii_alphanumeric).take(20).collect::<String>();
        let random = uuid::Uuid::new_v4().simple().to_string();
        // Short: the server's socket path (`<dir>/.s.PGSQL.<port>`) must fit 107 bytes.
        let dir = std::env::temp_dir().join(format!("macpg-{slug}-{}", &random[..8]));
        std::fs::create_dir(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let port = free_port()?;
        let certificates = if tls { Some(TestCertificates::make(&dir)?) } else { None };
        let cluster = Self { bin, dir, port, as_root, certificates };
        if as_root {
            checked(
                Command::new("chown")
                    .arg("-R")
                    .arg(format!("{SERVER_USER}:"))
                    .arg(&cluster.dir)
                    .output(),
                "chown",
            )?;
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        if cluster.certificates.is_some() {
            // TCP over TLS only: a plain connection finds no entry and is refused. `postgres`
            // is trusted; other roles (made by a test with `execute`) log in with SCRAM.
            let hba = cluster.data().join("pg_hba.conf");
            std::fs::write(
                &hba,
                "local all all trust\nhostssl all postgres 127.0.0.1/32 trust\n\
                 hostssl all all 127.0.0.1/32 scram-sha-256\n",
            )
            .map_err(|e| format!("writing {}: {e}", hba.display()))?;
        }
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The URL of the cluster's `postgres` database (user `postgres`, no password).
    pub fn url(&self) -> Secret {
        Secret::new(format!("postgres://postgres@127.0.0.1:{}/postgres", self.port))
    }

    /// The CA and server certificates when started by [`PrivateCluster::start_with_tls`].
    pub fn certificates(&self) -> Option<&TestCertificates> {
        self.certificates.as_ref()
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` in the `postgres` database as the `postgres` user (`psql` over the
    /// cluster's Unix socket, which needs no TLS), to set up what a test needs.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        let dir = self.dir.to_string_lossy().into_owned();
        let port = self.port.to_string();
        let args =
            ["-h", &dir, "-p", &port, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"];
        let mut all = args.to_vec();
        all.extend_from_slice(&["-c", sql]);
        self.run("psql", &all)
    }

    /// `pg_ctl restart -m fast`: every session is ended, the server stops and starts again;
    /// returns once it accepts connections.
    pub fn restart_fast(&self) -> Result<(), String> {
        self.pg_ctl(&["restart", "-m", "fast", "-o", &self.server_options()])
    }

    /// `pg_ctl stop -m fast`: returns once the server is down.
    pub fn stop_fast(&self) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", "fast"])
    }

    /// Starts the stopped server; returns once it accepts connections.
    pub fn start_server(&self) -> Result<(), String> {
        self.pg_ctl(&["start", "-o", &self.server_options()])
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn server_options(&self) -> String {
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.to_string_lossy()
        );
        if let Some(files) = &self.certificates {
            let _ = write!(
                options,
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                files.server_cert.to_string_lossy(),
                files.server_key.to_string_lossy()
            );
        }
        options
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data().to_string_lossy().into_owned();
        let log = self.dir.join("server.log").to_string_lossy().into_owned();
        let mut all = vec!["-D", &data, "-l", &log, "-w", "-t", "60"];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// Runs the server binary `name` with `args` (as the server user when running as root).
    fn run(&self, name: &str, args: &[&str]) -> Result<(), String> {
        let program = self.bin.join(name);
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", SERVER_USER, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command.args(args).current_dir(&self.dir).stdin(Stdio::null());
        checked(command.output(), name)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists()
            && let Err(reason) = self.pg_ctl(&["stop", "-m", "immediate"])
        {
            eprintln!("could not stop the private PostgreSQL cluster: {reason}");
        }
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("could not remove {}: {err}", self.dir.display());
        }
    }
}

/// The `bin` directory of the newest server under `/usr/lib/postgresql`.
fn newest_installed() -> Option<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A port free on 127.0.0.1 now (the server binds it right after; another process taking it
/// in between makes the start fail, clearly).
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `output` when the command ran and succeeded; its stderr otherwise.
pub(super) fn checked(output: std::io::Result<Output>, name: &str) -> Result<(), String> {
    match output {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!(
            "{name} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
        Err(err) => Err(format!("could not run {name}: {err}")),
    }
}
