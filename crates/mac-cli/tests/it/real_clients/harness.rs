//! The machinery of the real-client tests: where `cargo xtask clients` installed the clients, a
//! pool of fake accounts added with `mac accounts add`, `mac serve` as a child process, and a
//! sandbox (fresh `HOME`, XDG dirs, `TMPDIR` and working directory) for one client run.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mac_test_support::fake_provider::{codex_claims, jwt};
use mac_test_support::{
    ChildGuard, Endpoint, FakeGrant, FakeProvider, RecordedRequest, TempDataDir, spawn_guarded,
};
use serde_json::Value;

use crate::support::{mac, point_at, std_mac, stderr};

/// How long one client may take for its one-shot prompt. OpenCode, the slowest, needs 7–12 s
/// on an idle 2-core machine (nearly all of it its own start-up) and was seen taking 72 s on
/// one shared by several builds; the deadline only bounds a client that hangs.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long `mac serve` may take to print its address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Lifetime of the pool's access tokens: long enough that no refresh happens during a test.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3_600);

/// The path of the client command `name` (`claude`, `codex`, `opencode`) that
/// `cargo xtask clients` installed, after checking that the installed versions are the pinned
/// ones. Fails (never skips) when they are not: CI installs them before the tests.
pub(crate) fn installed(name: &str) -> PathBuf {
    let prefix = install_prefix();
    let mut problems = Vec::new();
    for (package, pinned) in pinned_versions() {
        let manifest = prefix.join("node_modules").join(&package).join("package.json");
        let installed = std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .and_then(|json| json.get("version")?.as_str().map(str::to_owned));
        match installed {
            None => problems.push(format!("{package} is not installed")),
            Some(version) if version != pinned => {
                problems.push(format!("{package} {version} is installed, {pinned} pinned"));
            }
            Some(_) => {}
        }
    }
    let command = prefix.join("node_modules").join(".bin").join(name);
    if !command.is_file() {
        problems.push(format!("{} does not exist", command.display()));
    }
    assert!(
        problems.is_empty(),
        "the real clients are not installed as pinned in xtask/clients/package.json ({}); run \
         `cargo xtask clients` (it installs them into {})",
        problems.join("; "),
        prefix.display()
    );
    command
}

/// `<target dir>/clients`, where `cargo xtask clients` installs: the target directory is the
/// ancestor of the `mac` binary under test that holds cargo's `CACHEDIR.TAG`.
fn install_prefix() -> PathBuf {
    let mac = Path::new(env!("CARGO_BIN_EXE_mac"));
    let target = mac
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("no cargo target directory above {}", mac.display()));
    target.join("clients")
}

/// The `dependencies` of `xtask/clients/package.json`: package name and pinned version.
fn pinned_versions() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/clients/package.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap();
    json["dependencies"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, version)| (name.clone(), version.as_str().unwrap().to_owned()))
        .collect()
}

/// The loopback fake provider and a data directory whose `config.toml` points both providers
/// at it, with two accounts in each pool, each with an access token the fake accepts.
pub(crate) struct Pool {
    pub(crate) fake: FakeProvider,
    pub(crate) dir: TempDataDir,
    /// The access token of the first Anthropic account.
    pub(crate) anthropic_token: String,
    /// The access token (a JWT) of the first Codex account.
    pub(crate) codex_token: String,
}

impl Pool {
    /// Starts the fake answering `reply` to every model request and fills the pools through
    /// `mac accounts add`, as a user would.
    pub(crate) fn start(reply: &str) -> Self {
        let fake = FakeProvider::start_in_background().unwrap();
        fake.set_reply_text(reply);
        let dir = TempDataDir::new().unwrap();
        point_at(&dir, &fake);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let expires = now + TOKEN_LIFETIME;
        let (mut anthropic_token, mut codex_token) = (String::new(), String::new());
        for n in 1..=2 {
            let email = format!("pool-claude-{n}@example.com");
            let grant = FakeGrant::anthropic(&format!("pool-uuid-{n}"), &email);
            let refresh = format!("pool-anthropic-refresh-{n}");
            let anthropic_access = format!("pool-anthropic-access-{n}");
            fake.add_refresh_token(&refresh, grant.clone());
            fake.add_access_token(&anthropic_access, grant);
            let expires_ms = expires.as_millis().to_string();
            add_account(
                &dir,
                &[
                    "anthropic",
                    "--refresh-token",
                    &refresh,
                    "--access-token",
                    &anthropic_access,
                    "--expires-at",
                    &expires_ms,
                    "--email",
                    &email,
                ],
            );

            let (account_id, email) =
                (format!("pool-acct-{n}"), format!("pool-chatgpt-{n}@example.com"));
            let grant = FakeGrant::codex(&account_id, &email, "plus");
            let mut claims = codex_claims(&account_id, &email, "plus");
            claims["exp"] = Value::from(expires.as_secs());
            let codex_access = jwt(&claims);
            let refresh = format!("pool-codex-refresh-{n}");
            fake.add_refresh_token(&refresh, grant.clone());
            fake.add_access_token(&codex_access, grant);
            add_account(
                &dir,
                &["codex", "--refresh-token", &refresh, "--access-token", &codex_access],
            );
            if n == 1 {
                (anthropic_token, codex_token) = (anthropic_access, codex_access);
            }
        }
        Self { fake, dir, anthropic_token, codex_token }
    }

    /// The model requests the fake received at `endpoint`, after checking there was at least
    /// one and that each carried an access token of the pool (one the fake issued or was
    /// given; a client's own key is never among them).
    pub(crate) fn served_by_the_pool(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        let requests = self.fake.requests(endpoint);
        assert!(!requests.is_empty(), "the fake received no {endpoint:?} request");
        let pool = self.fake.issued_access_tokens();
        for request in &requests {
            let bearer = request.bearer().unwrap_or("<none>");
            assert!(
                pool.iter().any(|token| token == bearer),
                "a {endpoint:?} request reached the fake with a bearer that is not a pool token"
            );
        }
        requests
    }

    /// Fails if any request the fake received carries `key` in a header, the query or the body.
    pub(crate) fn assert_never_saw(&self, key: &str) {
        for request in self.fake.all_requests() {
            let in_headers = request.headers.iter().any(|(_, value)| value.contains(key));
            let in_query = request.query.as_deref().is_some_and(|query| query.contains(key));
            let in_body = request.body.windows(key.len()).any(|window| window == key.as_bytes());
            assert!(
                !(in_headers || in_query || in_body),
                "the client's own key reached the upstream: {} {} (headers {in_headers}, query \
                 {in_query}, body {in_body})",
                request.method,
                request.path
            );
        }
    }
}

/// `mac accounts add ARGS` in `dir`, which must succeed.
fn add_account(dir: &TempDataDir, args: &[&str]) {
    let output = mac(dir).args(["accounts", "add"]).args(args).output().unwrap();
    assert!(output.status.success(), "mac accounts add {}: {}", args[0], stderr(&output));
}

/// `mac serve --listen 127.0.0.1:0` as a child process, killed on drop.
pub(crate) struct Gateway {
    /// Held for its drop, which kills the process.
    _child: ChildGuard,
    /// `http://ADDR` from the line `listening on http://ADDR`.
    pub(crate) origin: String,
    /// Where its standard error goes, for failure messages.
    log: PathBuf,
}

impl Gateway {
    /// Starts `mac serve` on `dir` and waits for its `listening on http://ADDR` line.
    pub(crate) fn start(dir: &TempDataDir) -> Self {
        let log = dir.outer().join("serve.stderr");
        let mut command = std_mac(dir);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).unwrap());
        let mut child = spawn_guarded(&mut command).unwrap();
        let stdout = child.child_mut().stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                panic!(
                    "`mac serve` printed no `listening on http://ADDR` line within \
                     {LISTEN_TIMEOUT:?} (stdout {seen:?}); its stderr:\n{}",
                    read_lossy(&log)
                );
            };
            if let Some(origin) = line.strip_prefix("listening on ") {
                let origin = origin.trim().to_owned();
                assert!(origin.starts_with("http://127.0.0.1:"), "{line}");
                return Self { _child: child, origin, log };
            }
            seen.push(line);
        }
    }

    /// What it wrote to standard error so far.
    pub(crate) fn log(&self) -> String {
        read_lossy(&self.log)
    }
}

/// A client's own world: fresh `HOME`, XDG directories, `TMPDIR` and working directory, so no
/// configuration of the machine leaks in and nothing leaks out.
pub(crate) struct Sandbox {
    root: tempfile::TempDir,
}

/// How a client run ended.
pub(crate) struct Run {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Fails unless the client exited 0, showing both its outputs and `context`.
    pub(crate) fn assert_success(&self, client: &str, context: &str) {
        assert!(
            self.status.success(),
            "{client} exited with {}\n--- stdout\n{}\n--- stderr\n{}\n--- {context}",
            self.status,
            self.stdout,
            self.stderr
        );
    }
}

impl Sandbox {
    pub(crate) fn new(client: &str) -> Self {
        let root = tempfile::Builder::new().prefix(&format!("mac-{client}-")).tempdir().unwrap();
        for dir in ["home", "config", "data", "cache", "state", "tmp", "work"] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
        }
        Self { root }
    }

    /// `name` inside the sandbox (`home`, `config`, `data`, `cache`, `state`, `tmp`, `work`).
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `program` with an environment of only `PATH` (Codex CLI's launcher needs `node`) and
    /// the sandbox's directories, run in its working directory with no input.
    pub(crate) fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_STATE_HOME", self.path("state"))
            .env("TMPDIR", self.path("tmp"))
            .env("NO_COLOR", "1")
            .current_dir(self.path("work"))
            .stdin(Stdio::null());
        command
    }

    /// Runs `command` to its end (killed after the client timeout), its outputs in files so a
    /// chatty client never blocks on a full pipe.
    pub(crate) fn run(&self, command: &mut Command) -> Run {
        let (out, err) = (self.path("stdout"), self.path("stderr"));
        command.stdout(File::create(&out).unwrap()).stderr(File::create(&err).unwrap());
        let child = spawn_guarded(command).unwrap();
        let output = child.wait_with_timeout(CLIENT_TIMEOUT).unwrap_or_else(|error| {
            panic!(
                "{} did not finish: {error}\n--- stdout\n{}\n--- stderr\n{}",
                command.get_program().to_string_lossy(),
                read_lossy(&out),
                read_lossy(&err)
            )
        });
        Run { status: output.status, stdout: read_lossy(&out), stderr: read_lossy(&err) }
    }
}

/// `path`'s contents as text, empty if unreadable.
fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}
