//! `mac serve` as a real child process (the `mac-child` binary runs `mac_cli::main`): the one
//! `listening on http://ADDR` line, one log line per request and never a token in the log (at
//! `-vv`), a stream in flight finishing after SIGTERM and exit 0; two gateways on one data
//! directory refreshing an expired token exactly once under concurrent clients; SIGKILL under
//! load leaving a store that loads and serves again.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mac_postgres::testing::TestDatabase;
use mac_storage::{AccountStore, Provider, StoreOptions};
use mac_test_support::{ChildGuard, Endpoint, FakeProvider, Scripted, TempDataDir, spawn_guarded};
use rustix::process::{Pid, Signal, kill_process};

use crate::gateway_support::{
    Seeded, config_toml, messages_body, responses_body, seed, seed_with_expiry,
};

/// A running `mac serve`.
pub(crate) struct Served {
    child: ChildGuard,
    pub(crate) url: String,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

/// Starts `mac [flags] --home DIR serve --listen 127.0.0.1:0` and waits for its address line.
fn serve(dir: &TempDataDir, name: &str, flags: &[&str]) -> Served {
    serve_with(dir, name, flags, &[])
}

/// [`serve`] with `env` added to the child's environment.
pub(crate) fn serve_with(
    dir: &TempDataDir,
    name: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Served {
    let log = dir.outer().join(format!("{name}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_mac-child"));
    command
        .envs(env.iter().copied())
        .args(flags)
        .arg("--home")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log).unwrap());
    let mut child = spawn_guarded(&mut command).unwrap();
    let stdout = child.child_mut().stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = sender.send((line, reader));
    });
    let (line, stdout) = receiver.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
        panic!("no address line; log: {}", std::fs::read_to_string(&log).unwrap())
    });
    let url = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Served { child, url, stdout, log }
}

impl Served {
    /// The gateway's process id.
    pub(crate) fn pid(&mut self) -> u32 {
        self.child.child_mut().id()
    }

    pub(crate) fn signal(&mut self, signal: Signal) {
        kill_process(Pid::from_child(self.child.child_mut()), signal).unwrap();
    }

    /// SIGTERM, then the exit status and the rest of standard output.
    fn terminate(self) -> (Option<i32>, String) {
        self.stop_with(Signal::TERM)
    }

    /// `signal`, then the exit status and the rest of standard output.
    fn stop_with(mut self, signal: Signal) -> (Option<i32>, String) {
        self.signal(signal);
        let output = self.child.wait_with_timeout(Duration::from_secs(30)).unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (output.status.code(), rest)
    }

    /// `signal`, then the exit status and the log.
    pub(crate) fn stop_keeping_log(self, signal: Signal) -> (Option<i32>, String) {
        let log = self.log.clone();
        let (code, _) = self.stop_with(signal);
        (code, std::fs::read_to_string(log).unwrap())
    }
}

/// A `mac serve` on a data directory of its own (returned with it), on `database`'s pool:
/// nothing shared with another gateway but the database, as on another host.
pub(crate) fn serve_on_postgres(
    database: &TestDatabase,
    fake: &FakeProvider,
    name: &str,
) -> (TempDataDir, Served) {
    let dir = TempDataDir::new().unwrap();
    write_config(&dir, fake);
    let env = [("MAC_STORAGE_BACKEND", "postgres"), ("MAC_STORAGE_URL", database.url().expose())];
    let served = serve_with(&dir, name, &[], &env);
    (dir, served)
}

pub(crate) fn write_config(dir: &TempDataDir, fake: &FakeProvider) {
    // The test writes its fixture directly.
    std::fs::write(dir.data_dir().config_file(), config_toml(fake)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mac_serve_logs_one_line_per_request_never_a_token_and_exits_0_on_sigterm() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_stream_pause(Duration::from_millis(100));
    let dir = TempDataDir::new().unwrap();
    // Expired: the first request refreshes it, so fresh tokens pass through the process.
    let claude = seed_with_expiry(&dir, &fake, Provider::Anthropic, "claude", Duration::ZERO);
    let codex = seed(&dir, &fake, Provider::Codex, "codex");
    write_config(&dir, &fake);
    let served = serve(&dir, "serve", &["-vv"]);
    let http = reqwest::Client::new();
    let url = served.url.clone();

    let answer =
        http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap();
    let answer =
        http.post(format!("{url}/v1/responses")).body(responses_body(true)).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap();
    assert_eq!(fake.count(Endpoint::AnthropicToken), 1);

    // A stream in flight when SIGTERM comes still ends complete, then the process exits 0.
    let mut stream =
        http.post(format!("{url}/v1/messages")).body(messages_body(true)).send().await.unwrap();
    let mut text = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    let stopping = tokio::task::spawn_blocking(move || served.terminate());
    while let Some(chunk) = stream.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.trim_end().ends_with("\"type\":\"message_stop\"}"), "{text}");
    let (served_log, (code, rest)) = {
        let result = stopping.await.unwrap();
        (std::fs::read_to_string(dir.outer().join("serve.log")).unwrap(), result)
    };
    assert_eq!(code, Some(0), "{served_log}");
    assert_eq!(rest, "", "one line on standard output");

    let request_lines: Vec<&str> =
        served_log.lines().filter(|line| line.contains("mac_gateway::request")).collect();
    assert_eq!(request_lines.len(), 3, "{served_log}");
    assert!(
        request_lines[0].contains("route=\"messages\"") && request_lines[0].contains("status=200")
    );
    assert!(
        request_lines[0].contains("account=\"claude\"") && request_lines[0].contains("attempts=1")
    );
    let mut secrets =
        vec![claude.access, claude.refresh.clone(), codex.access, codex.refresh.clone()];
    secrets.extend(fake.issued_access_tokens());
    secrets.extend(fake.current_refresh_token(&claude.refresh));
    for secret in secrets {
        assert!(!served_log.contains(&secret), "the log holds a token: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_data_dir_refresh_an_expired_token_exactly_once() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let only = seed_with_expiry(&dir, &fake, Provider::Anthropic, "only", Duration::ZERO);
    write_config(&dir, &fake);
    let (first, second) = (serve(&dir, "first", &[]), serve(&dir, "second", &[]));
    let http = reqwest::Client::new();
    let mut requests = Vec::new();
    for n in 0..16 {
        let url = if n % 2 == 0 { first.url.clone() } else { second.url.clone() };
        let http = http.clone();
        requests.push(tokio::spawn(async move {
            let answer = http
                .post(format!("{url}/v1/messages"))
                .body(messages_body(false))
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            answer.bytes().await.unwrap();
            status
        }));
    }
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(
        fake.count(Endpoint::AnthropicToken),
        1,
        "exactly one refresh across both processes"
    );
    assert!(fake.current_refresh_token(&only.refresh).is_some(), "the grant is alive");
    // One stops on SIGTERM, the other on SIGINT (Ctrl-C): both exit 0.
    for (served, signal) in [(first, Signal::TERM), (second, Signal::INT)] {
        let (code, log) = served.stop_keeping_log(signal);
        assert_eq!(code, Some(0), "{log}");
        let served_here = log.lines().filter(|line| line.contains("mac_gateway::request")).count();
        assert_eq!(served_here, 8, "each process served its half: {log}");
    }
}

/// Whether `account`'s rotated refresh token is kept: in the store, or in its pending-grant
/// journal beside the accounts file.
fn grant_kept(
    dir: &TempDataDir,
    fake: &FakeProvider,
    store: &AccountStore,
    account: &Seeded,
) -> bool {
    let Some(current) = fake.current_refresh_token(&account.refresh) else { return false };
    let document = store.load().unwrap();
    let stored =
        document.accounts.iter().find(|a| a.uuid.as_deref() == Some(&account.uuid)).unwrap();
    if stored.refresh_token.expose() == current {
        return true;
    }
    let folder = dir.accounts_file(Provider::Anthropic).parent().unwrap().to_path_buf();
    std::fs::read_dir(folder).unwrap().filter_map(Result::ok).any(|entry| {
        let name = entry.file_name().to_string_lossy().into_owned();
        name.contains(".grant.")
            && std::fs::read_to_string(entry.path()).unwrap_or_default().contains(&current)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_leaves_a_store_that_loads_and_serves_again() {
    let fake = FakeProvider::start().await.unwrap();
    let dir = TempDataDir::new().unwrap();
    let accounts = [
        seed_with_expiry(&dir, &fake, Provider::Anthropic, "a", Duration::ZERO),
        seed_with_expiry(&dir, &fake, Provider::Anthropic, "b", Duration::ZERO),
        seed(&dir, &fake, Provider::Anthropic, "c"),
    ];
    write_config(&dir, &fake);
    // Cooldowns to write while the load runs.
    fake.script(
        Endpoint::Messages,
        vec![Scripted::rate_limited(vec![("retry-after".into(), "2".into())]); 6],
    );
    let mut served = serve(&dir, "killed", &[]);
    let http = reqwest::Client::new();
    let (done, mut finished) = tokio::sync::mpsc::unbounded_channel::<u16>();
    let mut load = Vec::new();
    for _ in 0..8 {
        let (http, url, done) = (http.clone(), served.url.clone(), done.clone());
        load.push(tokio::spawn(async move {
            loop {
                let Ok(answer) =
                    http.post(format!("{url}/v1/messages")).body(messages_body(false)).send().await
                else {
                    return;
                };
                let status = answer.status().as_u16();
                if answer.bytes().await.is_err() || done.send(status).is_err() {
                    return;
                }
            }
        }));
    }
    // Kill it in the middle of the load.
    let mut answered = 0;
    while answered < 40 {
        finished.recv().await.unwrap();
        answered += 1;
    }
    served.signal(Signal::KILL);
    for task in load {
        task.await.unwrap();
    }
    drop(served);

    let store =
        AccountStore::open(dir.data_dir(), Provider::Anthropic, StoreOptions::default()).unwrap();
    let document = store.load().unwrap();
    let mut uuids: Vec<&str> = document.accounts.iter().filter_map(|a| a.uuid.as_deref()).collect();
    uuids.sort_unstable();
    let mut seeded: Vec<&str> = accounts.iter().map(|a| a.uuid.as_str()).collect();
    seeded.sort_unstable();
    assert_eq!(uuids, seeded);
    for account in &accounts {
        assert!(
            grant_kept(&dir, &fake, &store, account),
            "{}: its refresh token was lost",
            account.label
        );
    }
    let again = serve(&dir, "again", &[]);
    let answer = http
        .post(format!("{}/v1/messages", again.url))
        .body(messages_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    answer.bytes().await.unwrap();
    assert_eq!(again.terminate().0, Some(0));
}

#[test]
fn mac_serve_refuses_a_taken_port_and_an_open_address_without_a_key() {
    let dir = TempDataDir::new().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (listen, expected, hint) in [
        (format!("127.0.0.1:{port}"), "cannot listen on", "hint: check `--listen`"),
        ("0.0.0.0:0".to_owned(), "without an inbound key", "hint: set [gateway] inbound_key"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_mac-child"))
            .arg("--home")
            .arg(dir.path())
            .args(["serve", "--listen", &listen])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{listen}: {stderr}");
        assert!(stderr.contains(expected) && stderr.contains(hint), "{listen}: {stderr}");
        assert!(output.stdout.is_empty(), "{listen}: nothing announced");
    }
}
